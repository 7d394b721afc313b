/**
 * The part of the ONNX protobuf schema that the exporter writes, as a protobufjs JSON
 * descriptor (so nothing but compiled TypeScript needs to ship in dist/).
 *
 * Field numbers, types and enum values are those of the official schema, onnx/onnx
 * `onnx/onnx.proto` (package `onnx`, proto2). They are facts of the file format: a reader
 * built from the full schema (onnxruntime, the onnx Python package, Netron) reads what we
 * write. Only the messages and fields we use are declared; a decoder built from this
 * schema skips the others.
 *
 * Repeated scalars are written unpacked (`packed: false`), as proto2 writes them and as
 * the onnx package itself does; proto readers accept either form.
 */
import { Root, Type } from 'protobufjs/light';

const unpacked = { packed: false };

// prettier-ignore
const DESCRIPTOR = {
  nested: {
    onnx: {
      nested: {
        ModelProto: {
          fields: {
            ir_version:       { type: 'int64', id: 1 },
            opset_import:     { rule: 'repeated', type: 'OperatorSetIdProto', id: 8 },
            producer_name:    { type: 'string', id: 2 },
            producer_version: { type: 'string', id: 3 },
            domain:           { type: 'string', id: 4 },
            model_version:    { type: 'int64', id: 5 },
            doc_string:       { type: 'string', id: 6 },
            graph:            { type: 'GraphProto', id: 7 },
            metadata_props:   { rule: 'repeated', type: 'StringStringEntryProto', id: 14 },
          },
        },
        OperatorSetIdProto: {
          fields: {
            domain:  { type: 'string', id: 1 }, // '' is the default domain, ai.onnx
            version: { type: 'int64', id: 2 },
          },
        },
        StringStringEntryProto: {
          fields: {
            key:   { type: 'string', id: 1 },
            value: { type: 'string', id: 2 },
          },
        },
        GraphProto: {
          fields: {
            node:        { rule: 'repeated', type: 'NodeProto', id: 1 },
            name:        { type: 'string', id: 2 },
            initializer: { rule: 'repeated', type: 'TensorProto', id: 5 },
            doc_string:  { type: 'string', id: 10 },
            input:       { rule: 'repeated', type: 'ValueInfoProto', id: 11 },
            output:      { rule: 'repeated', type: 'ValueInfoProto', id: 12 },
            value_info:  { rule: 'repeated', type: 'ValueInfoProto', id: 13 },
          },
        },
        NodeProto: {
          fields: {
            input:      { rule: 'repeated', type: 'string', id: 1 },
            output:     { rule: 'repeated', type: 'string', id: 2 },
            name:       { type: 'string', id: 3 },
            op_type:    { type: 'string', id: 4 },
            attribute:  { rule: 'repeated', type: 'AttributeProto', id: 5 },
            doc_string: { type: 'string', id: 6 },
            domain:     { type: 'string', id: 7 },
          },
        },
        AttributeProto: {
          fields: {
            name:       { type: 'string', id: 1 },
            f:          { type: 'float', id: 2 },
            i:          { type: 'int64', id: 3 },
            s:          { type: 'bytes', id: 4 },
            t:          { type: 'TensorProto', id: 5 },
            floats:     { rule: 'repeated', type: 'float', id: 7, options: unpacked },
            ints:       { rule: 'repeated', type: 'int64', id: 8, options: unpacked },
            strings:    { rule: 'repeated', type: 'bytes', id: 9 },
            doc_string: { type: 'string', id: 13 },
            type:       { type: 'AttributeType', id: 20 },
          },
          nested: {
            AttributeType: {
              values: { UNDEFINED: 0, FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8, TENSORS: 9, GRAPHS: 10 },
            },
          },
        },
        TensorProto: {
          fields: {
            dims:       { rule: 'repeated', type: 'int64', id: 1, options: unpacked },
            data_type:  { type: 'int32', id: 2 }, // a TensorProto.DataType value
            float_data: { rule: 'repeated', type: 'float', id: 4, options: { packed: true } }, // packed in onnx.proto too
            name:       { type: 'string', id: 8 },
            raw_data:   { type: 'bytes', id: 9 }, // little-endian, row-major
            doc_string: { type: 'string', id: 12 },
          },
          nested: {
            DataType: {
              values: { UNDEFINED: 0, FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9, FLOAT16: 10, DOUBLE: 11 },
            },
          },
        },
        ValueInfoProto: {
          fields: {
            name:       { type: 'string', id: 1 },
            type:       { type: 'TypeProto', id: 2 },
            doc_string: { type: 'string', id: 3 },
          },
        },
        TypeProto: {
          fields: {
            tensor_type: { type: 'TypeProto.Tensor', id: 1 }, // one case of the oneof `value`
            denotation:  { type: 'string', id: 6 },
          },
          nested: {
            Tensor: {
              fields: {
                elem_type: { type: 'int32', id: 1 }, // a TensorProto.DataType value
                shape:     { type: 'TensorShapeProto', id: 2 },
              },
            },
          },
        },
        TensorShapeProto: {
          fields: {
            dim: { rule: 'repeated', type: 'TensorShapeProto.Dimension', id: 1 },
          },
          nested: {
            Dimension: {
              oneofs: { value: { oneof: ['dim_value', 'dim_param'] } },
              fields: {
                dim_value:  { type: 'int64', id: 1 },
                dim_param:  { type: 'string', id: 2 }, // a symbolic size such as "batch"
                denotation: { type: 'string', id: 3 },
              },
            },
          },
        },
      },
    },
  },
};

/** TensorProto.DataType.FLOAT: 32-bit IEEE float. */
export const ONNX_FLOAT = 1;

/** AttributeProto.AttributeType values we write. */
export const ATTRIBUTE_TYPE = { FLOAT: 1, INT: 2, STRING: 3, INTS: 7 } as const;

let root: Root | undefined;

/** The `onnx.ModelProto` type (built once, on first use): encode with it, or decode a file to inspect it. */
export function onnxModelType(): Type {
  root ??= Root.fromJSON(DESCRIPTOR);
  return root.lookupType('onnx.ModelProto');
}

// ---------------------------------------------------------------------------------------
// The shapes of the plain objects the exporter builds (field names as in onnx.proto).

export interface OnnxAttribute {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  ints?: number[];
  doc_string?: string;
}

export interface OnnxNode {
  input: string[];
  output: string[];
  name: string;
  op_type: string;
  attribute: OnnxAttribute[];
  doc_string?: string;
}

export interface OnnxTensor {
  name: string;
  dims: number[];
  data_type: number;
  raw_data: Uint8Array;
  doc_string?: string;
}

export interface OnnxDimension {
  dim_value?: number;
  dim_param?: string;
}

export interface OnnxValueInfo {
  name: string;
  type: { tensor_type: { elem_type: number; shape: { dim: OnnxDimension[] } } };
  doc_string?: string;
}

export interface OnnxGraph {
  name: string;
  node: OnnxNode[];
  initializer: OnnxTensor[];
  input: OnnxValueInfo[];
  output: OnnxValueInfo[];
  doc_string?: string;
}

export interface OnnxModel {
  ir_version: number;
  opset_import: { domain: string; version: number }[];
  producer_name: string;
  producer_version: string;
  model_version?: number;
  doc_string?: string;
  graph: OnnxGraph;
  metadata_props?: { key: string; value: string }[];
}
