"""Write small .tflite flatbuffers from Python and run them in TensorFlow Lite Micro.

The integer kernels of edgec must match TFLM bit for bit; the tests build one-op (or few-op)
models with exactly the tensors, quantization parameters and options under test, run them
with the PyPI ``tflite-micro`` host interpreter and compare. The flatbuffer is written with
the object API (``*T`` classes) that ships inside ``tflite_micro``'s generated schema module.
Tensors here are in TFLite layout (NHWC activations, OHWI / 1HWO weights).
"""

from __future__ import annotations

from collections.abc import Sequence

import flatbuffers
import numpy as np
from tflite_micro.python.tflite_micro import runtime
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

TENSOR_TYPES = {
    np.dtype(np.float32): schema.TensorType.FLOAT32,
    np.dtype(np.int8): schema.TensorType.INT8,
    np.dtype(np.int16): schema.TensorType.INT16,
    np.dtype(np.int32): schema.TensorType.INT32,
    np.dtype(np.int64): schema.TensorType.INT64,
    np.dtype(np.uint8): schema.TensorType.UINT8,
    np.dtype(np.bool_): schema.TensorType.BOOL,
}


def _options_type(options) -> int:
    """The BuiltinOptions union tag of an options object (``Conv2DOptionsT`` -> Conv2DOptions)."""
    name = type(options).__name__
    return getattr(schema.BuiltinOptions, name[:-1])


class ModelBuilder:
    """Collects tensors and operators of one subgraph; ``build()`` returns the flatbuffer bytes."""

    def __init__(self) -> None:
        self.buffers: list[schema.BufferT] = [schema.BufferT()]  # buffer 0: the empty sentinel
        self.tensors: list[schema.TensorT] = []
        self.operators: list[schema.OperatorT] = []
        self.opcodes: list[int] = []

    def tensor(
        self,
        shape: Sequence[int],
        dtype,
        *,
        scale=None,
        zero_point=None,
        axis: int = 0,
        data: np.ndarray | None = None,
        name: str | None = None,
    ) -> int:
        """Add a tensor (a constant when ``data`` is given); returns its index."""
        dtype = np.dtype(dtype)
        buffer_index = 0
        if data is not None:
            raw = np.ascontiguousarray(np.asarray(data, dtype=dtype).reshape(tuple(shape)))
            self.buffers.append(schema.BufferT(data=np.frombuffer(raw.tobytes(), np.uint8)))
            buffer_index = len(self.buffers) - 1
        quant = None
        if scale is not None:
            scales = np.atleast_1d(np.asarray(scale, np.float32))
            zeros = np.atleast_1d(np.asarray(0 if zero_point is None else zero_point, np.int64))
            if zeros.size == 1 and scales.size > 1:
                zeros = np.repeat(zeros, scales.size)
            quant = schema.QuantizationParametersT(
                scale=[float(s) for s in scales],
                zeroPoint=[int(z) for z in zeros],
                quantizedDimension=axis,
            )
        index = len(self.tensors)
        self.tensors.append(
            schema.TensorT(
                shape=[int(d) for d in shape],
                type=TENSOR_TYPES[dtype],
                buffer=buffer_index,
                name=name or f"t{index}",
                quantization=quant,
            )
        )
        return index

    def operator(self, opcode: int, inputs: Sequence[int], outputs: Sequence[int], options=None):
        """Add an operator (a ``schema.BuiltinOperator`` value); input -1 means absent."""
        if opcode not in self.opcodes:
            self.opcodes.append(opcode)
        op = schema.OperatorT(
            opcodeIndex=self.opcodes.index(opcode), inputs=list(inputs), outputs=list(outputs)
        )
        if options is not None:
            op.builtinOptionsType = _options_type(options)
            op.builtinOptions = options
        self.operators.append(op)

    def build(self, inputs: Sequence[int], outputs: Sequence[int]) -> bytes:
        """Serialize the model with the given graph inputs and outputs."""
        subgraph = schema.SubGraphT(
            tensors=self.tensors,
            inputs=list(inputs),
            outputs=list(outputs),
            operators=self.operators,
            name="main",
        )
        codes = [
            schema.OperatorCodeT(builtinCode=code, deprecatedBuiltinCode=min(code, 127), version=1)
            for code in self.opcodes
        ]
        model = schema.ModelT(
            version=3,
            operatorCodes=codes,
            subgraphs=[subgraph],
            description="edgec test model",
            buffers=self.buffers,
        )
        builder = flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())


def run_tflm(model: bytes, inputs: Sequence[np.ndarray], arena_size: int | None = None) -> list:
    """Run ``model`` once in the TFLM host interpreter; returns every graph output."""
    data_bytes = sum(np.asarray(value).nbytes for value in inputs)
    arena = arena_size or 256 * 1024 + 16 * len(model) + 8 * data_bytes
    interpreter = runtime.Interpreter.from_bytes(model, arena_size=arena)
    for index, value in enumerate(inputs):
        interpreter.set_input(np.ascontiguousarray(value), index)
    interpreter.invoke()
    count = schema.Model.GetRootAsModel(model, 0).Subgraphs(0).OutputsLength()
    return [np.array(interpreter.get_output(index)) for index in range(count)]


def single_op(
    opcode: int,
    inputs: Sequence[dict],
    outputs: Sequence[dict],
    options=None,
) -> bytes:
    """A model with one operator. Each tensor is a dict of ``ModelBuilder.tensor`` arguments;
    tensors without ``data`` become graph inputs (in order), a ``None`` entry an absent input."""
    builder = ModelBuilder()
    graph_inputs, op_inputs = [], []
    for spec in inputs:
        if spec is None:
            op_inputs.append(-1)
            continue
        index = builder.tensor(**spec)
        op_inputs.append(index)
        if spec.get("data") is None:
            graph_inputs.append(index)
    op_outputs = [builder.tensor(**spec) for spec in outputs]
    builder.operator(opcode, op_inputs, op_outputs, options)
    return builder.build(graph_inputs, op_outputs)


OP = schema.BuiltinOperator
ACT = schema.ActivationFunctionType
PADDING = schema.Padding


# ---- the same .tflite model through edgec's numpy kernels -------------------------------------


def _tensor_quant(tensor) -> tuple[np.ndarray, np.ndarray]:
    q = tensor.quantization
    return np.asarray(q.scale, np.float32), np.asarray(q.zeroPoint, np.int64)


def _fused(options) -> tuple[float | None, float | None]:
    return {
        ACT.NONE: (None, None),
        ACT.RELU: (0.0, None),
        ACT.RELU6: (0.0, 6.0),
        ACT.RELU_N1_TO_1: (-1.0, 1.0),
    }[options.fusedActivationFunction]


def _same_pads(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    effective = dilation * (kernel - 1) + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def run_numpy_kernels(model: bytes, inputs: Sequence[np.ndarray], rounding: str = "tflm") -> list:
    """Interpret a quantized .tflite model (Conv, DepthwiseConv, pools, Reshape, FC, Softmax,
    Add) with edgec's integer kernels, converting NHWC <-> NCHW around the spatial ops."""
    from edgec.ops.integer import elementwise, linear, pooling, softmax

    m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model, 0))
    graph = m.subgraphs[0]
    values: dict[int, np.ndarray] = {}
    for index, tensor in enumerate(graph.tensors):
        data = m.buffers[tensor.buffer].data
        if data is not None and len(data):
            dtype = {v: k for k, v in TENSOR_TYPES.items()}[tensor.type]
            values[index] = np.frombuffer(bytes(np.asarray(data, np.uint8)), dtype).reshape(
                tensor.shape
            )
    for index, value in zip(graph.inputs, inputs):
        values[index] = np.asarray(value)
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in m.operatorCodes]
    for op in graph.operators:
        code, opt = codes[op.opcodeIndex], op.builtinOptions
        tin = [graph.tensors[i] for i in op.inputs]
        out_t = graph.tensors[op.outputs[0]]
        x = values[op.inputs[0]]
        (s_in,), (z_in,) = _tensor_quant(tin[0]) if code != OP.RESHAPE else ((0,), (0,))
        if code in (OP.CONV_2D, OP.DEPTHWISE_CONV_2D):
            (s_out,), (z_out,) = _tensor_quant(out_t)
            w, bias = values[op.inputs[1]], values.get(op.inputs[2]) if len(op.inputs) > 2 else None
            s_w, _ = _tensor_quant(tin[1])
            depthwise = code == OP.DEPTHWISE_CONV_2D
            w_oihw = w.transpose(3, 0, 1, 2) if depthwise else w.transpose(0, 3, 1, 2)
            kh, kw = w_oihw.shape[2:]
            h, wd = x.shape[1:3]
            pads = (0, 0, 0, 0)
            if opt.padding == PADDING.SAME:
                (pt, pb), (pl, pr) = (
                    _same_pads(h, kh, opt.strideH, opt.dilationHFactor),
                    _same_pads(wd, kw, opt.strideW, opt.dilationWFactor),
                )
                pads = (pt, pl, pb, pr)
            params = linear.conv_params(
                s_in,
                z_in,
                s_w,
                s_out,
                z_out,
                strides=(opt.strideH, opt.strideW),
                pads=pads,
                dilations=(opt.dilationHFactor, opt.dilationWFactor),
                group=x.shape[3] if depthwise else x.shape[3] // w.shape[3],
                activation=_fused(opt),
            )
            y = linear.conv2d(np.moveaxis(x, -1, 1), w_oihw, bias, params, rounding)
            y = np.moveaxis(y, 1, -1)
        elif code in (OP.AVERAGE_POOL_2D, OP.MAX_POOL_2D):
            (s_out,), (z_out,) = _tensor_quant(out_t)
            h, wd = x.shape[1:3]
            kh, kw = opt.filterHeight, opt.filterWidth
            pads = (0, 0, 0, 0)
            if opt.padding == PADDING.SAME:
                (pt, pb), (pl, pr) = (
                    _same_pads(h, kh, opt.strideH, 1),
                    _same_pads(wd, kw, opt.strideW, 1),
                )
                pads = (pt, pl, pb, pr)
            params = pooling.pool_params(
                s_in,
                z_in,
                s_out,
                z_out,
                (kh, kw),
                strides=(opt.strideH, opt.strideW),
                pads=pads,
                activation=_fused(opt),
            )
            xc = np.moveaxis(x, -1, 1)
            y = (
                pooling.avg_pool(xc, params, rounding)
                if code == OP.AVERAGE_POOL_2D
                else pooling.max_pool(xc, params)
            )
            y = np.moveaxis(y, 1, -1)
        elif code == OP.RESHAPE:
            y = x.reshape(out_t.shape)
        elif code == OP.FULLY_CONNECTED:
            (s_out,), (z_out,) = _tensor_quant(out_t)
            s_w, _ = _tensor_quant(tin[1])
            bias = values.get(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
            params = linear.fully_connected_params(
                s_in, z_in, s_w, s_out, z_out, activation=_fused(opt)
            )
            y = linear.fully_connected(
                x.reshape(-1, values[op.inputs[1]].shape[1]),
                values[op.inputs[1]],
                bias,
                params,
                rounding,
            ).reshape(out_t.shape)
        elif code == OP.SOFTMAX:
            params = softmax.softmax_params(s_in, opt.beta)
            y = softmax.softmax(x, params)
        elif code == OP.ADD:
            (s2,), (z2,) = _tensor_quant(tin[1])
            (s_out,), (z_out,) = _tensor_quant(out_t)
            params = elementwise.add_params(
                s_in, z_in, s2, z2, s_out, z_out, activation=_fused(opt)
            )
            y = elementwise.add(x, values[op.inputs[1]], params, rounding)
        else:
            raise NotImplementedError(f"builtin operator {code}")
        values[op.outputs[0]] = y
    return [values[i] for i in graph.outputs]
