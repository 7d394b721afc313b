/**
 * Every CPU kernel of the core as a function over tensors ({ data: Float32Array, shape }).
 * Activations are NHWC, conv weights KRSC (out, kh, kw, in/groups), linear weights
 * (out, in). Inputs are validated here; the core re-checks sizes at its boundary.
 */
export * from './elementwise';
export * from './gemm';
export * from './conv2d';
export * from './linear';
export * from './crossEntropy';
export * from './sgd';
export * from './convert';
export * from './batchnorm';
export * from './pool';
export * from './augment';
