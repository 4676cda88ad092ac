"""edgec.analysis: MACs, parameters, weight bytes and peak activation memory.

Expected figures come from hand counts of the published architectures, from the ONNX
initializers read with onnx directly, and from hand computations on tiny graphs.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import onnx
import pytest
from conftest import shared_path
from onnx import numpy_helper

from edgec.analysis import analyze
from edgec.ir.graph import Graph, Value

KWS = ("models", "kws_dscnn", "kws_ref_model_float32.onnx")
KWS_QDQ = ("models", "kws_dscnn", "kws_ref_model_int8_qdq.onnx")
IC = ("models", "ic_resnet8", "pretrainedResnet.onnx")
VWW = ("models", "vww_mobilenet", "vww_96_float.onnx")
VWW_NHWC = ("models", "vww_mobilenet", "tf2onnx_nhwc", "vww_96_float.onnx")
AD = ("models", "ad_autoencoder", "ad01_fp32.onnx")


# ---- independent MAC counts, layer by layer from the published architectures ---------------
def conv(out_hw: tuple[int, int], out_c: int, in_c_per_group: int, k: tuple[int, int]) -> int:
    return out_hw[0] * out_hw[1] * out_c * in_c_per_group * k[0] * k[1]


def depthwise(out_hw: int, channels: int) -> int:
    return conv((out_hw, out_hw), channels, 1, (3, 3))


def dense(n_in: int, n_out: int) -> int:
    return n_in * n_out


def kws_dscnn_macs() -> int:
    """DS-CNN (MLPerf Tiny KWS): 10x4 stride-2 conv to 64x25x5, 4 x (dw 3x3 + pw 64), FC 64->12."""
    first = conv((25, 5), 64, 1, (10, 4))
    block = conv((25, 5), 64, 1, (3, 3)) + conv((25, 5), 64, 64, (1, 1))
    return first + 4 * block + dense(64, 12)


def ic_resnet8_macs() -> int:
    """ResNet-8 (MLPerf Tiny IC) on 32x32x3: stem 16, three stages 16/32/64 with 1x1 shortcuts."""
    stem = conv((32, 32), 16, 3, (3, 3))
    stage1 = 2 * conv((32, 32), 16, 16, (3, 3))
    stage2 = conv((16, 16), 32, 16, (3, 3)) + conv((16, 16), 32, 32, (3, 3))
    stage2 += conv((16, 16), 32, 16, (1, 1))
    stage3 = conv((8, 8), 64, 32, (3, 3)) + conv((8, 8), 64, 64, (3, 3))
    stage3 += conv((8, 8), 64, 32, (1, 1))
    return stem + stage1 + stage2 + stage3 + dense(64, 10)


def vww_mobilenet_macs() -> int:
    """MobileNetV1 alpha 0.25 on 96x96x3: stem 8 channels stride 2, 13 dw/pw pairs, FC 256->2."""
    total = conv((48, 48), 8, 3, (3, 3))
    hw = 48
    # (input channels, output channels, stride) of each depthwise-separable block
    blocks = [(8, 16, 1), (16, 32, 2), (32, 32, 1), (32, 64, 2), (64, 64, 1), (64, 128, 2)]
    blocks += [(128, 128, 1)] * 5 + [(128, 256, 2), (256, 256, 1)]
    for c_in, c_out, stride in blocks:
        hw //= stride
        total += depthwise(hw, c_in) + conv((hw, hw), c_out, c_in, (1, 1))
    return total + dense(256, 2)


def ad_autoencoder_macs() -> int:
    """FC autoencoder 640 -> 128 x4 -> 8 -> 128 x4 -> 640."""
    widths = [640, 128, 128, 128, 128, 8, 128, 128, 128, 128, 640]
    return sum(dense(a, b) for a, b in itertools.pairwise(widths))


def test_kws_hand_count_matches_the_published_figure():
    assert kws_dscnn_macs() == 2_656_768  # models/README.md


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (KWS, kws_dscnn_macs()),
        (IC, ic_resnet8_macs()),
        (VWW, vww_mobilenet_macs()),
        (AD, ad_autoencoder_macs()),
        (KWS_QDQ, kws_dscnn_macs()),
    ],
    ids=["kws", "ic", "vww", "ad", "kws-int8-qdq"],
)
@pytest.mark.parametrize("fold", [True, False], ids=["folded", "unfolded"])
def test_mac_totals_match_hand_counts(parts, expected, fold):
    result = analyze(shared_path(*parts), fold=fold)
    assert result.totals.macs_complete
    assert result.totals.macs == pytest.approx(expected, rel=0.01)
    assert not result.unsupported_ops


# ---- parameters and weight bytes against the ONNX initializers ------------------------------
def initializer_counts(path) -> tuple[int, int, int]:
    """(params, float32 bytes, int8 bytes) from the file's float initializers, by onnx alone.

    int8 rule: Conv/Gemm weights 1 byte, their biases 4 (int32), any other float tensor 4.
    """
    model = onnx.load(str(path))
    arrays = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    params = f32 = i8 = 0
    for node in model.graph.node:
        for index, name in enumerate(node.input):
            data = arrays.get(name)
            if data is None or not np.issubdtype(data.dtype, np.floating):
                continue
            params += data.size
            f32 += 4 * data.size
            weighted = node.op_type in ("Conv", "Gemm")
            i8 += data.size * (1 if weighted and index == 1 else 4)
    return params, f32, i8


@pytest.mark.parametrize("parts", [KWS, IC, VWW, AD], ids=["kws", "ic", "vww", "ad"])
def test_params_and_weight_bytes_match_the_initializers(parts):
    path = shared_path(*parts)
    params, f32, i8 = initializer_counts(path)
    totals = analyze(path).totals
    assert (totals.params, totals.weight_bytes_float32, totals.weight_bytes_int8) == (
        params,
        f32,
        i8,
    )


def test_qdq_model_counts_weights_not_quantization_parameters():
    # Same network as the float KWS model: scales and zero points are not parameters,
    # int8 weights stay 1 byte and int32 biases 4 bytes.
    params, f32, i8 = initializer_counts(shared_path(*KWS))
    for fold in (True, False):
        totals = analyze(shared_path(*KWS_QDQ), fold=fold).totals
        assert (totals.params, totals.weight_bytes_float32, totals.weight_bytes_int8) == (
            params,
            f32,
            i8,
        )


def test_folded_rows_show_fused_activations():
    result = analyze(shared_path(*KWS))
    ops = [row.op for row in result.rows]
    assert ops.count("Conv+Relu") == 9  # the first conv and 4 x (depthwise + pointwise)
    assert "Relu" not in ops
    first = result.rows[0]
    assert first.shapes == [[1, 64, 25, 5]]
    assert first.params == 64 * 1 * 10 * 4 + 64
    assert first.macs == conv((25, 5), 64, 1, (10, 4))


def test_dynamic_batch_model_is_analyzed_with_a_notice():
    result = analyze(shared_path(*VWW_NHWC))
    assert result.inputs[0].shape == [1, 96, 96, 3]
    assert any("symbolic batch dim" in n and "set to 1" in n for n in result.notices)
    assert result.totals.macs == pytest.approx(vww_mobilenet_macs(), rel=0.01)
    given = analyze(shared_path(*VWW_NHWC), input_shapes={"input_1": [1, 96, 96, 3]})
    assert given.notices == []


def test_to_json_round_trips():
    result = analyze(shared_path(*AD))
    data = json.loads(result.to_json())
    assert data["totals"]["macs"] == ad_autoencoder_macs()
    assert data["inputs"] == [{"name": "input_1", "shape": [1, 640], "dtype": "float32"}]
    assert len(data["rows"]) == len(result.rows)


# ---- tiny hand-built graphs -----------------------------------------------------------------
def mlp_with_skip() -> Graph:
    """x[1,16] -> fc1[32] -> relu -> fc2[4] -> y;  x -> fc3[4] -> s;  out = y + s."""
    rng = np.random.default_rng(7)
    g = Graph("tiny")
    x = g.add_value(Value("x", np.float32, (1, 16)))
    g.inputs.append(x)

    def const(name, shape):
        return g.add_constant(name, rng.standard_normal(shape).astype(np.float32))

    def act(name, width):
        return Value(name, np.float32, (1, width))

    h1, h2, y, s, out = act("h1", 32), act("h2", 32), act("y", 4), act("s", 4), act("out", 4)
    g.add_node("Gemm", [x, const("w1", (16, 32)), const("b1", (32,))], [h1], name="fc1")
    g.add_node("Relu", [h1], [h2], name="relu")
    g.add_node("Gemm", [h2, const("w2", (32, 4))], [y], name="fc2")
    g.add_node("Gemm", [x, const("w3", (16, 4))], [s], name="fc3")
    g.add_node("Add", [y, s], [out], name="add")
    g.outputs.append(out)
    g.validate()
    return g


def test_peak_activation_memory_by_hand():
    # Live float32 tensors at each node (bytes = 4 x elements):
    #   fc1:  x(64) h1(128)          = 192
    #   relu: x(64) h1(128) h2(128)  = 320   <- peak
    #   fc2:  x(64) h2(128) y(16)    = 208
    #   fc3:  x(64) y(16) s(16)      = 96
    #   add:  y(16) s(16) out(16)    = 48
    totals = analyze(mlp_with_skip(), fold=False).totals
    assert totals.peak_activation_bytes == 320
    assert totals.peak_activation_bytes_int8 == 80
    assert totals.peak_at == "relu"
    assert totals.params == 16 * 32 + 32 + 32 * 4 + 16 * 4
    assert totals.macs == 16 * 32 + 32 * 4 + 16 * 4
    # int8: weights 1 byte, the one bias int32
    assert totals.weight_bytes_int8 == 16 * 32 + 4 * 32 + 32 * 4 + 16 * 4


def test_peak_after_fusing_relu_into_fc1():
    # With Relu fused into fc1, h2 disappears: fc2 sees x(64) h1(128) y(16) = 208 at most.
    graph = mlp_with_skip()
    result = analyze(graph)
    assert result.rows[0].op == "Gemm+Relu"
    assert result.totals.peak_activation_bytes == 208
    assert len(graph.nodes) == 5  # the caller's graph is left alone


def graph_with_unknown_op() -> Graph:
    g = Graph("custom")
    x = g.add_value(Value("x", np.float32, (1, 8)))
    g.inputs.append(x)
    a = Value("a", np.float32, (1, 8))
    f = Value("f", None, None)
    r = Value("r", None, None)
    g.add_node("Relu", [x], [a], name="first")
    g.add_node("FancyOp", [a], [f], name="fancy")
    g.add_node("Relu", [f], [r], name="after")
    g.outputs.append(r)
    return g


@pytest.mark.parametrize("fold", [True, False], ids=["folded", "unfolded"])
def test_unsupported_ops_are_listed_and_unknowns_marked(fold):
    result = analyze(graph_with_unknown_op(), fold=fold)
    assert result.unsupported_ops == {"FancyOp": ["fancy"]}
    fancy = next(r for r in result.rows if r.name == "fancy")
    assert fancy.shapes == [None]
    assert fancy.macs is None
    assert not result.totals.macs_complete
    assert not result.totals.activations_complete
    # Known sizes: x and a, 32 bytes each, both live only at "first"; f and r count as 0.
    assert result.totals.peak_activation_bytes == 64
    assert result.totals.peak_at == "first"
