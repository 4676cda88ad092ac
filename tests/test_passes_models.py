"""``fold`` on real models: outputs unchanged (reference executor and onnxruntime on the
exported folded graph) and the ops it promises to remove are gone.

References are independent of edgec: onnxruntime on the original file for ../shared/models,
the stored outputs of the onnx wheel's ``light/`` model zoo copies.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx
import pytest
from conftest import shared_path
from onnx_cases import (
    LIGHT_MODELS,
    SHARED_FLOAT_MODELS,
    SHARED_INT8_MODELS,
    arange_feeds,
    assert_close,
    light_model,
    random_feeds,
    run_ort,
)

from edgec.frontend import load_model
from edgec.interp import Interpreter
from edgec.ir import Graph, to_onnx
from edgec.passes import fold

# Light models whose folded weights are hundreds of MB: exporting them for onnxruntime
# (protobuf copies) takes several seconds each.
BIG_LIGHT_MODELS = {"bvlc_alexnet", "vgg19", "zfnet512"}
QDQ = ("QuantizeLinear", "DequantizeLinear")


def op_counts(graph: Graph) -> Counter:
    return Counter(n.op_type for n in graph.nodes)


# ---- ../shared/models ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def shared_folded() -> Callable[[str], tuple[Graph, Counter]]:
    """Each shared model folded once (with the op counts before folding)."""
    cache: dict[str, tuple[Graph, Counter]] = {}

    def get(relative: str) -> tuple[Graph, Counter]:
        if relative not in cache:
            graph = load_model(shared_path("models", *relative.split("/")))
            before = op_counts(graph)
            cache[relative] = (fold(graph), before)
        return cache[relative]

    return get


@pytest.mark.parametrize("relative", SHARED_FLOAT_MODELS + SHARED_INT8_MODELS)
def test_shared_model_outputs_survive_fold(relative, shared_folded, rng):
    graph, _ = shared_folded(relative)
    path = shared_path("models", *relative.split("/"))
    feeds = random_feeds(graph, rng)
    expected = run_ort(path, feeds)
    ours = Interpreter(graph).run(feeds)
    exported = run_ort(to_onnx(graph), feeds)
    for value, want, theirs in zip(graph.outputs, expected, exported):
        # float: rtol 1e-4 / atol 1e-5; int8 outputs exactly (assert_close is exact on ints)
        assert_close(ours[value.name], want, 1e-4, 1e-5, f"{relative} interp")
        assert_close(theirs, want, 1e-4, 1e-5, f"{relative} onnxruntime")


@pytest.mark.parametrize("relative", SHARED_FLOAT_MODELS + SHARED_INT8_MODELS)
def test_shared_model_activations_fused_and_cleaned(relative, shared_folded):
    graph, before = shared_folded(relative)
    after = op_counts(graph)
    assert before["Relu"] > 0  # every one of these models has Relus after Conv/Gemm/MatMul/Add
    assert after["Relu"] == 0, after
    assert sum(n.fused is not None for n in graph.nodes) == before["Relu"]
    assert after["Identity"] == after["Dropout"] == after["ConstantOfShape"] == 0
    # QDQ stays for the quantization stage
    for op in QDQ:
        assert after[op] == before[op]


@pytest.mark.parametrize(
    "relative",
    [
        "kws_dscnn/kws_ref_model_float32.onnx",
        "kws_dscnn/kws_ref_model_int8_qdq.onnx",
        "ic_resnet8/pretrainedResnet.onnx",
        "vww_mobilenet/vww_96_float.onnx",
    ],
)
def test_pooled_head_transpose_is_gone(relative, shared_folded):
    # AveragePool -> Transpose (NCHW->NHWC on [1, C, 1, 1]) -> Reshape -> Gemm
    graph, before = shared_folded(relative)
    assert before["Transpose"] == 1
    assert op_counts(graph)["Transpose"] == 0
    (reshape,) = [n for n in graph.nodes if n.op_type == "Reshape"]
    source = reshape.inputs[0].producer
    while source.op_type in QDQ:  # the int8 model moves the quantized tensor
        source = source.inputs[0].producer
    assert source.op_type == "AveragePool"
    (reader,) = reshape.outputs[0].users
    while reader.op_type in QDQ:
        (reader,) = reader.outputs[0].users
    assert reader.op_type == "Gemm"


# ---- the onnx wheel's light/ model zoo copies ---------------------------------------------
# BatchNormalizations in each file, and those fold must leave (by the op producing their input):
# densenet121 is pre-activation (BN -> Relu -> Conv), so the BNs after Concat and after
# pooling have no Conv to fold into; the 59 after a 1x1 Conv fold.
BATCHNORMS = {"densenet121": 121, "inception_v2": 69, "resnet50": 53, "shufflenet": 49}
BATCHNORMS_LEFT = {"densenet121": {"Concat": 58, "AveragePool": 3, "MaxPool": 1}}


@dataclass
class LightCase:
    name: str
    graph: Graph  # folded
    model: onnx.ModelProto  # as stored
    expected: np.ndarray


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(name, marks=pytest.mark.slow) if name in BIG_LIGHT_MODELS else name
        for name in LIGHT_MODELS
    ],
)
def light(request) -> LightCase:
    """One folded light model at a time (pytest groups the tests by this module-scoped param,
    so the big folded weights of only one model are held in memory)."""
    path, expected = light_model(request.param)
    return LightCase(request.param, fold(load_model(path)), onnx.load(str(path)), expected)


def test_light_model_folded_matches_stored_output_interp(light):
    graph = light.graph
    out = Interpreter(graph).run(arange_feeds(graph))[graph.outputs[0].name]
    assert_close(out, light.expected, 1e-3, 1e-7, f"{light.name} interp")  # onnx's tolerance


def test_light_model_folded_matches_stored_output_onnxruntime(light):
    (out,) = run_ort(to_onnx(light.graph), arange_feeds(light.graph))
    assert_close(out, light.expected, 1e-3, 1e-7, f"{light.name} onnxruntime")


def foldable_batchnorms(model: onnx.ModelProto) -> int:
    """BNs reading a Conv/Gemm output that nothing else reads, counted on the ONNX file."""
    producers = {out: n.op_type for n in model.graph.node for out in n.output}
    readers = Counter(name for n in model.graph.node for name in n.input)
    outputs = {o.name for o in model.graph.output}
    return sum(
        1
        for n in model.graph.node
        if n.op_type == "BatchNormalization"
        and producers.get(n.input[0]) in ("Conv", "Gemm")
        and readers[n.input[0]] == 1
        and n.input[0] not in outputs
    )


def test_light_model_removals(light):
    graph, model = light.graph, light.model
    after = op_counts(graph)
    assert after["ConstantOfShape"] == 0  # every weight placeholder became data
    assert after["Identity"] == after["Dropout"] == 0
    assert not [n for n in graph.nodes if all(v.is_const for v in n.inputs if v is not None)]
    in_file = sum(n.op_type == "BatchNormalization" for n in model.graph.node)
    assert in_file == BATCHNORMS.get(light.name, 0)
    assert after["BatchNormalization"] == in_file - foldable_batchnorms(model)
    left = Counter(
        n.inputs[0].producer.op_type for n in graph.nodes if n.op_type == "BatchNormalization"
    )
    assert dict(left) == BATCHNORMS_LEFT.get(light.name, {})
