"""Helpers shared by the IR/op tests: build tiny ONNX models, run onnxruntime and edgec.

onnxruntime runs with graph optimizations off, so it evaluates the model as written (a QDQ
model stays float arithmetic between Quantize/Dequantize pairs instead of being fused into
integer kernels whose rounding differs from the ONNX definition).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from edgec.frontend import load_model
from edgec.interp import Interpreter

BACKEND_DATA = Path(onnx.__file__).parent / "backend" / "test" / "data"
CONFORMANCE_SUITES = ("pytorch-converted", "pytorch-operator", "simple")

# Every third-party model in ../shared/models, listed so that a missing file fails a test
# instead of silently shrinking the suite.
SHARED_FLOAT_MODELS = (
    "ad_autoencoder/ad01_fp32.onnx",
    "ad_autoencoder/tf2onnx/ad01_fp32.onnx",
    "hello_world_sine/hello_world_float.onnx",
    "ic_resnet8/pretrainedResnet.onnx",
    "kws_dscnn/kws_ref_model_float32.onnx",
    "kws_dscnn/tf2onnx_nhwc/kws_ref_model_float32.onnx",
    "mnist8/model.onnx",
    "vww_mobilenet/vww_96_float.onnx",
    "vww_mobilenet/tf2onnx_nhwc/vww_96_float.onnx",
)
SHARED_INT8_MODELS = (
    "ad_autoencoder/ad01_int8_qdq.onnx",
    "ad_autoencoder/tf2onnx/ad01_int8.onnx",
    "hello_world_sine/hello_world_int8_qdq.onnx",
    "ic_resnet8/pretrainedResnet_quant_int8_qdq.onnx",
    "kws_dscnn/kws_ref_model_int8_qdq.onnx",
    "kws_dscnn/tf2onnx_nhwc/kws_ref_model.onnx",
    "vww_mobilenet/vww_96_int8_qdq.onnx",
)
LIGHT_MODELS = (
    "bvlc_alexnet",
    "densenet121",
    "inception_v1",
    "inception_v2",
    "resnet50",
    "shufflenet",
    "squeezenet",
    "vgg19",
    "zfnet512",
)


# ---- reading the ONNX backend test data ------------------------------------------------------
def conformance_cases() -> list[Path]:
    """Every case folder (model.onnx + test_data_set_0) of the three node-free suites."""
    cases = []
    for suite in CONFORMANCE_SUITES:
        cases.extend(sorted(p for p in (BACKEND_DATA / suite).iterdir() if p.is_dir()))
    return cases


def read_tensor(path: Path) -> np.ndarray:
    tensor = TensorProto()
    tensor.ParseFromString(path.read_bytes())
    return numpy_helper.to_array(tensor)


def runtime_input_names(model: onnx.ModelProto) -> list[str]:
    initializers = {t.name for t in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in initializers]


def case_data(case: Path) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
    """Feeds (by input name, in declaration order) and expected outputs of test_data_set_0."""
    model = onnx.load(str(case / "model.onnx"), load_external_data=False)
    data = case / "test_data_set_0"
    inputs = sorted(data.glob("input_*.pb"), key=lambda p: int(p.stem.split("_")[1]))
    outputs = sorted(data.glob("output_*.pb"), key=lambda p: int(p.stem.split("_")[1]))
    names = runtime_input_names(model)
    assert len(names) == len(inputs), f"{case.name}: {len(names)} inputs, {len(inputs)} files"
    feeds = {name: read_tensor(p) for name, p in zip(names, inputs)}
    return feeds, [read_tensor(p) for p in outputs]


def light_model(name: str) -> tuple[Path, np.ndarray]:
    """A ``light/`` model and its stored expected output."""
    base = BACKEND_DATA / "light"
    return base / f"light_{name}.onnx", read_tensor(base / f"light_{name}_output_0.pb")


def arange_feeds(graph) -> dict[str, np.ndarray]:
    """``np.arange(n).reshape(shape) / n`` in float32 for every input, as onnx's runner does."""
    feeds = {}
    for value in graph.inputs:
        n = int(np.prod(value.shape))
        feeds[value.name] = (np.arange(n).reshape(value.shape) / n).astype(np.float32)
    return feeds


# ---- building small models -------------------------------------------------------------------
def elem_type(dtype) -> int:
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def make_model(
    nodes: Sequence[onnx.NodeProto],
    inputs: Mapping[str, np.ndarray],
    outputs: Sequence[str],
    initializers: Mapping[str, np.ndarray] | None = None,
    opset: int = 21,
    ir_version: int | None = None,
    output_types: Mapping[str, int] | None = None,
) -> onnx.ModelProto:
    """A model whose runtime inputs take the shapes/dtypes of ``inputs``; outputs untyped."""
    graph_inputs = [
        helper.make_tensor_value_info(name, elem_type(a.dtype), a.shape)
        for name, a in inputs.items()
    ]
    output_types = output_types or {}
    graph_outputs = [
        helper.make_tensor_value_info(name, output_types.get(name, TensorProto.UNDEFINED), None)
        for name in outputs
    ]
    inits = [
        numpy_helper.from_array(np.asarray(a), name) for name, a in (initializers or {}).items()
    ]
    graph = helper.make_graph(list(nodes), "case", graph_inputs, graph_outputs, inits)
    if ir_version is None:
        ir_version = 10 if opset >= 21 else (8 if opset >= 15 else 7 if opset >= 12 else 5)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=ir_version
    )
    _type_outputs(model, next(iter(inputs.values()), None))
    return model


def _type_outputs(model: onnx.ModelProto, first_input: np.ndarray | None) -> None:
    """Type untyped outputs as ONNX infers them (onnxruntime needs a type), else as the input."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
        types = {vi.name: vi.type.tensor_type.elem_type for vi in inferred.graph.output}
    except Exception:
        types = {}
    for vi in model.graph.output:
        if vi.type.tensor_type.elem_type == TensorProto.UNDEFINED:
            elem = types.get(vi.name) or (
                elem_type(first_input.dtype) if first_input is not None else 0
            )
            vi.type.tensor_type.elem_type = elem


def single_node(
    op_type: str,
    inputs: Mapping[str, np.ndarray | None],
    attrs: Mapping | None = None,
    n_outputs: int = 1,
    const: Sequence[str] = (),
    opset: int = 21,
) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """One-node model; ``None`` inputs are omitted slots, names in ``const`` are initializers.

    Returns the model and the feeds of its runtime inputs.
    """
    names = [name if array is not None else "" for name, array in inputs.items()]
    outputs = [f"y{i}" for i in range(n_outputs)]
    node = helper.make_node(
        op_type, names, outputs, name=f"{op_type.lower()}_node", **(attrs or {})
    )
    feeds = {k: v for k, v in inputs.items() if v is not None and k not in const}
    inits = {k: v for k, v in inputs.items() if v is not None and k in const}
    return make_model([node], feeds, outputs, inits, opset=opset), feeds


# ---- running ---------------------------------------------------------------------------------
def ort_session(model: onnx.ModelProto | Path | str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def run_ort(
    model: onnx.ModelProto | Path | str, feeds: Mapping[str, np.ndarray]
) -> list[np.ndarray]:
    return ort_session(model).run(None, dict(feeds))


def run_edgec(model: onnx.ModelProto | Path | str, feeds: Mapping[str, np.ndarray], **kw) -> list:
    """Import with edgec and run the reference executor; outputs in graph order."""
    graph = load_model(model if isinstance(model, onnx.ModelProto) else Path(model), **kw)
    results = Interpreter(graph).run(dict(feeds))
    return [results[v.name] for v in graph.outputs]


def random_feeds(graph, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Seeded random data for every input: standard normal floats, full-range integers."""
    feeds = {}
    for value in graph.inputs:
        if np.issubdtype(value.dtype, np.floating):
            feeds[value.name] = rng.standard_normal(value.shape).astype(value.dtype)
        else:
            info = np.iinfo(value.dtype)
            feeds[value.name] = rng.integers(info.min, info.max, value.shape, endpoint=True).astype(
                value.dtype
            )
    return feeds


def assert_close(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float, what: str):
    """Same shape and dtype, values within tolerance (NaN equal to NaN); exact for integers."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    if np.issubdtype(expected.dtype, np.floating):
        np.testing.assert_allclose(
            actual, expected, rtol=rtol, atol=atol, equal_nan=True, err_msg=what
        )
    else:
        np.testing.assert_array_equal(actual, expected, err_msg=what)


# ---- the node cases onnx generates (onnx.backend.test.case.node) -----------------------------
def node_cases(supported: Callable[[str], bool]) -> list:
    """onnx's generated one-node cases whose ops all pass ``supported`` (first data set each)."""
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        cases = collect_testcases(None)
    chosen = []
    for case in cases:
        nodes = case.model.graph.node
        if all(n.domain in ("", "ai.onnx") and supported(n.op_type) for n in nodes):
            chosen.append(case)
    return chosen


def node_case_model(case, const_slots: Callable[[str], tuple[int, ...]]):
    """(model, feeds, expected): runtime inputs that feed shape parameters become initializers.

    edgec needs axes, pads, shapes and the like at compile time; the case's own data for
    them is moved into the model unchanged.
    """

    def array(value) -> np.ndarray:
        return numpy_helper.to_array(value) if isinstance(value, TensorProto) else np.asarray(value)

    inputs, outputs = case.data_sets[0]
    model = onnx.ModelProto()
    model.CopyFrom(case.model)
    feeds = {n: array(a) for n, a in zip(runtime_input_names(model), inputs) if a is not None}
    params = {
        name
        for node in model.graph.node
        for slot, name in enumerate(node.input)
        if slot in const_slots(node.op_type)
    }
    for name in [n for n in feeds if n in params]:
        model.graph.initializer.append(numpy_helper.from_array(feeds.pop(name), name))
    kept = [vi for vi in model.graph.input if vi.name not in params]
    del model.graph.input[:]
    model.graph.input.extend(kept)
    return model, feeds, [array(o) for o in outputs]
