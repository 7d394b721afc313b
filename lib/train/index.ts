/**
 * The building blocks of training, one named and separately tested piece per trick of
 * the paper; the trainer only composes them.
 */
export * from './schedule';
export * from './smoothing';
export * from './rng';
export * from './mixup';
export * from './distillation';
export * from './noBiasDecay';
export * from './lossScaler';
export * from './recipes';
export * from './safetensors';
export * from './checkpoint';
export * from './trainer';
