/**
 * A Stage as an ONNX model (opset 13), with the weights as initializers.
 * Built with onnx-proto's generated protobuf classes.
 */
import onnxProto from "onnx-proto";
import type { Activation, Shape } from "../layers.js";
import { type ComputeOp, type Pads, type Stage, stageShapes } from "../ops.js";

const { onnx } = onnxProto;
type INode = onnxProto.onnx.INodeProto;
type ITensor = onnxProto.onnx.ITensorProto;
type IValueInfo = onnxProto.onnx.IValueInfoProto;

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;
const A = onnx.AttributeProto.AttributeType;

export const INPUT_NAME = "x";
export const outputName = (i: number) => `y${i}`;

const ints = (name: string, v: number[]) => ({ name, type: A.INTS, ints: v });
const int = (name: string, v: number) => ({ name, type: A.INT, i: v });
const float = (name: string, v: number) => ({ name, type: A.FLOAT, f: v });
const onnxPads = (p: Pads) => [p.top, p.left, p.bottom, p.right];

function floatTensor(name: string, dims: number[], data: Float32Array): ITensor {
  return { name, dims, dataType: FLOAT, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}
function int64Tensor(name: string, values: number[]): ITensor {
  return {
    name,
    dims: [values.length],
    dataType: INT64,
    rawData: new Uint8Array(new BigInt64Array(values.map(BigInt)).buffer),
  };
}
function valueInfo(name: string, s: Shape): IValueInfo {
  const dims = [1, s.c, s.h, s.w].map((dimValue) => ({ dimValue }));
  return { name, type: { tensorType: { elemType: FLOAT, shape: { dim: dims } } } };
}

/** Appends activation nodes after `from`, returns the name of the activated tensor. */
function activate(nodes: INode[], act: Activation, from: string, to: string): string {
  const op = { leaky: "LeakyRelu", relu: "Relu", logistic: "Sigmoid", linear: undefined }[act];
  if (!op) return from;
  // darknet leaky: x > 0 ? x : 0.1x (src/activations.h leaky_activate)
  nodes.push({ opType: op, input: [from], output: [to], attribute: act === "leaky" ? [float("alpha", 0.1)] : [] });
  return to;
}

function emit(op: ComputeOp, i: number, from: string, out: Shape, nodes: INode[], inits: ITensor[]): string {
  const t = (s: string) => `op${i}_${s}`;
  switch (op.kind) {
    case "conv": {
      inits.push(floatTensor(t("w"), [op.outC, op.inC / op.groups, op.size, op.size], op.weights));
      const inputs = [from, t("w")];
      if (op.bias) {
        inits.push(floatTensor(t("b"), [op.outC], op.bias));
        inputs.push(t("b"));
      }
      nodes.push({
        opType: "Conv",
        input: inputs,
        output: [t("conv")],
        attribute: [
          ints("kernel_shape", [op.size, op.size]),
          ints("strides", [op.stride, op.stride]),
          ints("pads", onnxPads(op.pads)),
          int("group", op.groups),
        ],
      });
      return activate(nodes, op.activation, t("conv"), t("act"));
    }
    case "maxpool":
      // ONNX pads MaxPool with −∞, as darknet skips out-of-map cells (forward_maxpool_layer).
      nodes.push({
        opType: "MaxPool",
        input: [from],
        output: [t("pool")],
        attribute: [
          ints("kernel_shape", [op.size, op.size]),
          ints("strides", [op.stride, op.stride]),
          ints("pads", onnxPads(op.pads)),
        ],
      });
      return t("pool");
    case "avgpool":
      nodes.push({ opType: "GlobalAveragePool", input: [from], output: [t("pool")] });
      return t("pool");
    case "dense": {
      inits.push(floatTensor(t("w"), [op.outputs, op.inputs], op.weights));
      inits.push(int64Tensor(t("shape"), [1, out.c, out.h, out.w]));
      nodes.push({ opType: "Flatten", input: [from], output: [t("flat")], attribute: [int("axis", 1)] });
      const gemmIn = [t("flat"), t("w")];
      if (op.bias) {
        inits.push(floatTensor(t("b"), [op.outputs], op.bias));
        gemmIn.push(t("b"));
      }
      nodes.push({ opType: "Gemm", input: gemmIn, output: [t("gemm")], attribute: [int("transB", 1)] });
      const act = activate(nodes, op.activation, t("gemm"), t("act"));
      nodes.push({ opType: "Reshape", input: [act, t("shape")], output: [t("out")] });
      return t("out");
    }
  }
}

/**
 * Serialises a stage. `exposed` lists the op indices whose outputs become model
 * outputs `y<i>` (default: the last op only).
 */
export function stageToOnnx(stage: Stage, exposed: readonly number[] = [stage.ops.length - 1]): Uint8Array {
  const shapes = stageShapes(stage);
  const nodes: INode[] = [];
  const inits: ITensor[] = [];
  const names: string[] = [];
  let cur = INPUT_NAME;
  stage.ops.forEach((op, i) => {
    cur = emit(op, i, cur, shapes[i]!, nodes, inits);
    names.push(cur);
  });
  // Graph outputs need their own names; Identity is free after optimisation.
  for (const i of exposed) nodes.push({ opType: "Identity", input: [names[i]!], output: [outputName(i)] });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: "edgefuse",
    opsetImport: [{ domain: "", version: 13 }],
    graph: {
      name: "stage",
      node: nodes,
      initializer: inits,
      input: [valueInfo(INPUT_NAME, stage.input)],
      output: exposed.map((i) => valueInfo(outputName(i), shapes[i]!)),
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
