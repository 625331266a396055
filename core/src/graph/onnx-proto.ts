import * as protobuf from 'protobufjs/light';

/**
 * The handful of onnx.proto messages a model file needs, as a protobufjs reflection
 * descriptor. Field numbers are those of onnx/onnx.proto (IR version 8). Declared: the fields
 * this project writes, plus those an importer must see to read exporters' files or to refuse
 * what it cannot use (float_data, external data, subgraphs, sparse initializers). Protobuf
 * allows the rest to stay undeclared: unknown fields are never emitted and readers skip them.
 */
const descriptor = {
  nested: {
    onnx: {
      nested: {
        ModelProto: {
          fields: {
            irVersion: { id: 1, type: 'int64' },
            producerName: { id: 2, type: 'string' },
            producerVersion: { id: 3, type: 'string' },
            domain: { id: 4, type: 'string' },
            graph: { id: 7, type: 'GraphProto' },
            opsetImport: { id: 8, type: 'OperatorSetIdProto', rule: 'repeated' },
          },
        },
        StringStringEntryProto: {
          fields: {
            key: { id: 1, type: 'string' },
            value: { id: 2, type: 'string' },
          },
        },
        SparseTensorProto: {
          fields: {
            values: { id: 1, type: 'TensorProto' },
            dims: { id: 3, type: 'int64', rule: 'repeated' },
          },
        },
        OperatorSetIdProto: {
          fields: {
            domain: { id: 1, type: 'string' },
            version: { id: 2, type: 'int64' },
          },
        },
        GraphProto: {
          fields: {
            node: { id: 1, type: 'NodeProto', rule: 'repeated' },
            name: { id: 2, type: 'string' },
            initializer: { id: 5, type: 'TensorProto', rule: 'repeated' },
            input: { id: 11, type: 'ValueInfoProto', rule: 'repeated' },
            output: { id: 12, type: 'ValueInfoProto', rule: 'repeated' },
            sparseInitializer: { id: 15, type: 'SparseTensorProto', rule: 'repeated' },
          },
        },
        NodeProto: {
          fields: {
            input: { id: 1, type: 'string', rule: 'repeated' },
            output: { id: 2, type: 'string', rule: 'repeated' },
            name: { id: 3, type: 'string' },
            opType: { id: 4, type: 'string' },
            attribute: { id: 5, type: 'AttributeProto', rule: 'repeated' },
            domain: { id: 7, type: 'string' },
          },
        },
        AttributeProto: {
          fields: {
            name: { id: 1, type: 'string' },
            f: { id: 2, type: 'float' },
            i: { id: 3, type: 'int64' },
            s: { id: 4, type: 'bytes' },
            t: { id: 5, type: 'TensorProto' },
            g: { id: 6, type: 'GraphProto' },
            floats: { id: 7, type: 'float', rule: 'repeated' },
            ints: { id: 8, type: 'int64', rule: 'repeated' },
            strings: { id: 9, type: 'bytes', rule: 'repeated' },
            tensors: { id: 10, type: 'TensorProto', rule: 'repeated' },
            graphs: { id: 11, type: 'GraphProto', rule: 'repeated' },
            type: { id: 20, type: 'int32' },
            refAttrName: { id: 21, type: 'string' },
          },
        },
        TensorProto: {
          fields: {
            dims: { id: 1, type: 'int64', rule: 'repeated' },
            dataType: { id: 2, type: 'int32' },
            floatData: { id: 4, type: 'float', rule: 'repeated' },
            int32Data: { id: 5, type: 'int32', rule: 'repeated' },
            int64Data: { id: 7, type: 'int64', rule: 'repeated' },
            name: { id: 8, type: 'string' },
            rawData: { id: 9, type: 'bytes' },
            doubleData: { id: 10, type: 'double', rule: 'repeated' },
            externalData: { id: 13, type: 'StringStringEntryProto', rule: 'repeated' },
            dataLocation: { id: 14, type: 'int32' },
          },
        },
        ValueInfoProto: {
          fields: {
            name: { id: 1, type: 'string' },
            type: { id: 2, type: 'TypeProto' },
          },
        },
        TypeProto: {
          fields: {
            tensorType: { id: 1, type: 'TensorTypeProto' },
          },
        },
        // TypeProto.Tensor in onnx.proto; nesting is irrelevant on the wire.
        TensorTypeProto: {
          fields: {
            elemType: { id: 1, type: 'int32' },
            shape: { id: 2, type: 'TensorShapeProto' },
          },
        },
        TensorShapeProto: {
          fields: {
            dim: { id: 1, type: 'Dimension', rule: 'repeated' },
          },
        },
        Dimension: {
          oneofs: { value: { oneof: ['dimValue', 'dimParam'] } },
          fields: {
            dimValue: { id: 1, type: 'int64' },
            dimParam: { id: 2, type: 'string' },
          },
        },
      },
    },
  },
};

/** onnx TensorProto.DataType values used here */
export const DataType = { FLOAT: 1, INT32: 6, INT64: 7, BOOL: 9 } as const;

/** names of every onnx TensorProto.DataType, for error messages */
export const dataTypeNames: Record<number, string> = {
  0: 'UNDEFINED', 1: 'FLOAT', 2: 'UINT8', 3: 'INT8', 4: 'UINT16', 5: 'INT16', 6: 'INT32', 7: 'INT64', 8: 'STRING', 9: 'BOOL',
  10: 'FLOAT16', 11: 'DOUBLE', 12: 'UINT32', 13: 'UINT64', 14: 'COMPLEX64', 15: 'COMPLEX128', 16: 'BFLOAT16',
  17: 'FLOAT8E4M3FN', 18: 'FLOAT8E4M3FNUZ', 19: 'FLOAT8E5M2', 20: 'FLOAT8E5M2FNUZ', 21: 'UINT4', 22: 'INT4',
};
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

/** onnx AttributeProto.AttributeType values used here */
export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

export interface TensorJson {
  name: string;
  dims: number[];
  dataType: DataTypeCode;
  /** little-endian element bytes */
  rawData: Uint8Array;
}

export interface AttributeJson {
  name: string;
  type: (typeof AttributeType)[keyof typeof AttributeType];
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorJson;
  floats?: number[];
  ints?: number[];
}

export interface NodeJson {
  name: string;
  opType: string;
  input: string[];
  output: string[];
  attribute: AttributeJson[];
}

/** a tensor dimension: a fixed size or a symbolic name (the dynamic batch dimension) */
export type Dim = number | string;

export interface ValueInfoJson {
  name: string;
  elemType: DataTypeCode;
  shape: readonly Dim[];
}

export interface ModelJson {
  name: string;
  opset: number;
  nodes: NodeJson[];
  initializers: TensorJson[];
  inputs: ValueInfoJson[];
  outputs: ValueInfoJson[];
}

let modelType: protobuf.Type | null = null;

function getModelType(): protobuf.Type {
  modelType ??= protobuf.Root.fromJSON(descriptor).lookupType('onnx.ModelProto');
  return modelType;
}

function valueInfo(v: ValueInfoJson): object {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: v.elemType,
        shape: { dim: v.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** Serialises a graph to ONNX ModelProto bytes (IR version 8, default domain only). */
export function encodeModel(model: ModelJson): Uint8Array {
  const type = getModelType();
  const message = type.fromObject({
    irVersion: 8,
    producerName: 'signvote',
    producerVersion: '0.1.0',
    opsetImport: [{ domain: '', version: model.opset }],
    graph: {
      name: model.name,
      node: model.nodes,
      initializer: model.initializers,
      input: model.inputs.map(valueInfo),
      output: model.outputs.map(valueInfo),
    },
  });
  return type.encode(message).finish();
}

/**
 * Decodes ModelProto bytes to a plain object: int64s as numbers (exact below 2^53, which holds
 * for every shape and index a model here can have), bytes as Uint8Array views, repeated fields
 * always present. Throws protobufjs's error on bytes that are not a protobuf message.
 */
export function readModelProto(bytes: Uint8Array): Record<string, unknown> {
  const type = getModelType();
  return type.toObject(type.decode(bytes), { longs: Number, defaults: false, arrays: true }) as Record<string, unknown>;
}

/** Decodes bytes written by encodeModel back to a plain object (tests and debugging). */
export function decodeModel(bytes: Uint8Array): Record<string, unknown> {
  const type = getModelType();
  return type.toObject(type.decode(bytes), { longs: Number, bytes: Array, defaults: false }) as Record<string, unknown>;
}
