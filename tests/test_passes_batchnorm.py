"""FoldBatchNorm on hand-built Conv/Gemm graphs: structure, and outputs against onnxruntime
running the graph before the fold."""

from __future__ import annotations

import numpy as np
import pytest
from onnx_cases import assert_close, run_ort

from edgec.errors import PassError
from edgec.interp import Interpreter
from edgec.ir import FusedActivation, Graph, Value, to_onnx
from edgec.passes import FoldBatchNorm, PassManager

RTOL, ATOL = 1e-5, 1e-5  # float64 folding, one float32 rounding of weights and bias


def f32(name: str, shape) -> Value:
    return Value(name, np.float32, shape)


def add_batchnorm(g: Graph, x: Value, y: Value, rng: np.random.Generator, epsilon=1e-3):
    channels = x.shape[1]
    params = [
        rng.uniform(0.5, 2.0, channels),  # scale
        rng.standard_normal(channels),  # bias
        rng.standard_normal(channels),  # mean
        rng.uniform(0.1, 3.0, channels),  # variance
    ]
    consts = [g.add_constant(f"bn_{k}", p.astype(np.float32)) for k, p in zip("sbmv", params)]
    return g.add_node("BatchNormalization", [x, *consts], [y], {"epsilon": epsilon}, name="bn")


def conv_bn(rng, spatial=(6, 5), group=1, bias=True, channels=(4, 6)) -> Graph:
    """x -> Conv (optionally grouped, any rank) -> BN -> y."""
    c, m = channels
    x = f32("x", (1, c, *spatial))
    g = Graph("conv_bn")
    g.inputs.append(g.add_value(x))
    kernel = (3,) * len(spatial)
    w = g.add_constant("w", rng.standard_normal((m, c // group, *kernel)).astype(np.float32))
    inputs = [x, w]
    if bias:
        inputs.append(g.add_constant("b", rng.standard_normal(m).astype(np.float32)))
    out_spatial = tuple(s - 2 for s in spatial)
    h, y = f32("h", (1, m, *out_spatial)), f32("y", (1, m, *out_spatial))
    g.add_node("Conv", inputs, [h], {"group": group}, name="conv")
    add_batchnorm(g, h, y, rng)
    g.outputs.append(y)
    return g


def check_fold_keeps_outputs(g: Graph, rng) -> None:
    """Fold in place; outputs by interp and by onnxruntime equal onnxruntime's before."""
    feeds = {v.name: rng.standard_normal(v.shape).astype(np.float32) for v in g.inputs}
    expected = run_ort(to_onnx(g), feeds)
    assert PassManager([FoldBatchNorm()]).run(g).changed
    ours = Interpreter(g).run(feeds)
    theirs = run_ort(to_onnx(g), feeds)
    for value, want, got in zip(g.outputs, expected, theirs):
        assert_close(ours[value.name], want, RTOL, ATOL, f"interp {value.name}")
        assert_close(got, want, RTOL, ATOL, f"onnxruntime {value.name}")


@pytest.mark.parametrize(
    ("spatial", "group", "bias", "channels"),
    [
        ((6, 5), 1, True, (4, 6)),
        ((6, 5), 1, False, (4, 6)),
        ((9,), 2, True, (4, 6)),  # 1-d, grouped
        ((5, 4, 4), 1, False, (2, 3)),  # 3-d
        ((6, 6), 4, True, (4, 4)),  # depthwise
    ],
    ids=["2d", "2d-no-bias", "1d-grouped", "3d", "depthwise"],
)
def test_conv_batchnorm_folds(rng, spatial, group, bias, channels):
    g = conv_bn(rng, spatial, group, bias, channels)
    check_fold_keeps_outputs(g, rng)
    (conv,) = g.nodes
    assert conv.op_type == "Conv" and conv.attrs["group"] == group
    assert conv.outputs[0].name == "y" and g.outputs[0] is conv.outputs[0]  # name kept
    assert conv.inputs[2] is not None and conv.inputs[2].shape == (channels[1],)
    assert {c.name for c in g.constants()} == {conv.inputs[1].name, conv.inputs[2].name}


def test_conv_folded_weights_by_hand():
    # One channel, 1x1 kernel w=2, bias 1; BN scale 3, bias 4, mean 5, var 8, eps 1:
    # multiplier 3/sqrt(9) = 1, so w' = 2 and b' = (1 - 5) * 1 + 4 = 0.
    g = Graph("hand")
    x = g.add_value(f32("x", (1, 1, 2, 2)))
    g.inputs.append(x)
    h, y = f32("h", (1, 1, 2, 2)), f32("y", (1, 1, 2, 2))
    w = g.add_constant("w", np.full((1, 1, 1, 1), 2.0, np.float32))
    g.add_node("Conv", [x, w, g.add_constant("b", np.ones(1, np.float32))], [h])
    params = [g.add_constant(n, np.array([v], np.float32)) for n, v in zip("sbmv", (3, 4, 5, 8))]
    g.add_node("BatchNormalization", [h, *params], [y], {"epsilon": 1.0})
    g.outputs.append(y)
    FoldBatchNorm().run(g)
    (conv,) = g.nodes
    np.testing.assert_array_equal(conv.inputs[1].const.reshape(-1), [2.0])
    np.testing.assert_array_equal(conv.inputs[2].const, [0.0])


def gemm_bn(rng, trans_b: int, alpha: float, beta: float, c_shape) -> Graph:
    m, k, n = 3, 5, 4
    g = Graph("gemm_bn")
    a = g.add_value(f32("a", (m, k)))
    g.inputs.append(a)
    b_shape = (n, k) if trans_b else (k, n)
    inputs = [a, g.add_constant("B", rng.standard_normal(b_shape).astype(np.float32))]
    if c_shape is not None:
        inputs.append(g.add_constant("C", rng.standard_normal(c_shape).astype(np.float32)))
    h, y = f32("h", (m, n)), f32("y", (m, n))
    g.add_node("Gemm", inputs, [h], {"transB": trans_b, "alpha": alpha, "beta": beta}, name="gemm")
    add_batchnorm(g, h, y, rng)
    g.outputs.append(y)
    return g


@pytest.mark.parametrize("trans_b", [0, 1])
@pytest.mark.parametrize("c_shape", [None, (4,), (1, 4), (3, 1), (3, 4), ()], ids=str)
def test_gemm_batchnorm_folds(rng, trans_b, c_shape):
    g = gemm_bn(rng, trans_b, alpha=0.5, beta=2.0, c_shape=c_shape)
    check_fold_keeps_outputs(g, rng)
    (gemm,) = g.nodes
    assert gemm.op_type == "Gemm"
    assert gemm.attrs.get("alpha", 1.0) == 1.0 and gemm.attrs.get("beta", 1.0) == 1.0
    assert gemm.attrs.get("transB", 0) == trans_b
    assert gemm.inputs[2] is not None


def test_not_folded_when_the_conv_output_has_another_reader(rng):
    g = conv_bn(rng)
    h = g.value("h")
    extra = f32("extra", h.shape)
    g.add_node("Relu", [h], [extra])
    g.outputs.append(extra)
    assert not FoldBatchNorm().run(g).changed
    FoldBatchNorm().ensures(g)


def test_not_folded_when_the_conv_output_is_a_graph_output(rng):
    g = conv_bn(rng)
    g.outputs.append(g.value("h"))
    assert not FoldBatchNorm().run(g).changed


def test_not_folded_after_a_fused_activation_or_with_runtime_statistics(rng):
    g = conv_bn(rng)
    g.nodes[0].fused = FusedActivation("Relu")  # BN(Relu(conv)) is not affine in conv
    assert not FoldBatchNorm().run(g).changed

    g = conv_bn(rng)
    mean = g.add_value(f32("mean", (6,)))
    g.inputs.append(mean)
    g.set_input(g.nodes[1], 3, mean)
    assert not FoldBatchNorm().run(g).changed


def test_not_folded_after_a_non_linear_producer(rng):
    g = Graph("pool_bn")
    x = g.add_value(f32("x", (1, 2, 4, 4)))
    g.inputs.append(x)
    h, y = f32("h", (1, 2, 2, 2)), f32("y", (1, 2, 2, 2))
    g.add_node("MaxPool", [x], [h], {"kernel_shape": [2, 2], "strides": [2, 2]})
    add_batchnorm(g, h, y, rng)
    g.outputs.append(y)
    assert not FoldBatchNorm().run(g).changed
    assert [n.op_type for n in g.nodes] == ["MaxPool", "BatchNormalization"]


def test_ensures_names_the_batchnorm_left_behind(rng):
    g = conv_bn(rng)
    with pytest.raises(PassError, match="FoldBatchNorm at node 'bn'"):
        FoldBatchNorm().ensures(g)
