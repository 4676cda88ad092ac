"""Winograd F(2x2, 3x3) for the TVM backend's 3x3 stride-1 float convolutions: the weight
transform against a direct convolution in numpy (float64), and a residual block on an odd
map (partial 2x2 tiles), two images a batch, built for the host and validated against
onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.tvm_helpers import (
    check_float_validation,
    compile_tvm,
    onnxruntime_outputs,
    validate_cli,
)

# F(2, 3)'s input and output transforms (Lavin & Gray, 2015), written out here for the check
B_T = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
A_T = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)


def _direct(x_chw: np.ndarray, w_oihw: np.ndarray) -> np.ndarray:
    """3x3 "same" convolution, float64."""
    h, w = x_chw.shape[1:]
    padded = np.pad(x_chw, ((0, 0), (1, 1), (1, 1)))
    out = np.zeros((w_oihw.shape[0], h, w))
    for i in range(3):
        for j in range(3):
            out += np.einsum("oc,chw->ohw", w_oihw[:, :, i, j], padded[:, i : i + h, j : j + w])
    return out


def test_transformed_weights_give_the_direct_convolution():
    from edgec.backends.tvm.winograd import transform_weights

    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 6, 6))
    w = rng.standard_normal((8, 4, 3, 3))
    tile = 4
    packed = transform_weights(w, tile).astype(np.float64)  # [4, 4, OC/tile, C, tile]
    u = packed.transpose(0, 1, 3, 2, 4).reshape(4, 4, 4, 8)  # [4, 4, C, OC]
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    out = np.zeros((8, 6, 6))
    for ty in range(3):
        for tx in range(3):
            d = padded[:, 2 * ty : 2 * ty + 4, 2 * tx : 2 * tx + 4]  # [C, 4, 4]
            v = np.einsum("ai,cij,bj->abc", B_T, d, B_T)
            m = np.einsum("abc,abco->abo", v, u)
            out[:, 2 * ty : 2 * ty + 2, 2 * tx : 2 * tx + 2] = np.einsum(
                "ra,abo,sb->ors", A_T, m, A_T
            )
    np.testing.assert_allclose(out, _direct(x, w), rtol=1e-6, atol=1e-6)


def _residual_block(size: tuple[int, int], channels: int, batch: int = 1) -> onnx.ModelProto:
    """conv3x3 → ReLU → conv3x3 → + input → ReLU, random weights."""
    rng = np.random.default_rng(21)
    weights, nodes = [], []
    x = "input"
    for k in range(2):
        w = rng.standard_normal((channels, channels, 3, 3)) * np.sqrt(2 / (9 * channels))
        b = rng.uniform(-0.1, 0.1, channels)
        weights += [numpy_helper.from_array(w.astype(np.float32), f"w{k}")]
        weights += [numpy_helper.from_array(b.astype(np.float32), f"b{k}")]
        nodes.append(
            helper.make_node("Conv", [x, f"w{k}", f"b{k}"], [f"c{k}"], kernel_shape=[3, 3],
                             pads=[1, 1, 1, 1])
        )  # fmt: skip
        x = f"c{k}"
        if k == 0:
            nodes.append(helper.make_node("Relu", [x], ["r0"]))
            x = "r0"
    nodes.append(helper.make_node("Add", [x, "input"], ["sum"]))
    nodes.append(helper.make_node("Relu", ["sum"], ["output"]))
    shape = [batch, channels, *size]
    graph = helper.make_graph(
        nodes,
        "residual",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, shape)],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _winograd_functions(model: onnx.ModelProto) -> int:
    """How many of the host build's fused functions hold a Winograd product."""
    from edgec.backends.tvm.build import relax_module
    from edgec.backends.tvm.cpu import cpu_info
    from edgec.backends.tvm.pipeline import fused_module
    from edgec.backends.tvm.winograd import WINOGRAD_ATTR
    from edgec.targets import load_target

    mod = fused_module(relax_module(model), cpu_info(load_target("host")), True)
    return sum(WINOGRAD_ATTR in func.script() for _, func in mod.functions_items())


@pytest.mark.parametrize("channels", [16, 96])
def _loop_nests(model: onnx.ModelProto) -> list[int]:
    """Outermost loops of each scheduled function that holds a Winograd product."""
    import tvm
    from tvm.s_tir import dlight

    from edgec.backends.tvm.build import relax_module
    from edgec.backends.tvm.cpu import cpu_info
    from edgec.backends.tvm.pipeline import fused_module
    from edgec.backends.tvm.schedule import default_rules
    from edgec.backends.tvm.winograd import WINOGRAD_ATTR
    from edgec.targets import load_target

    cpu = cpu_info(load_target("host"))
    mod = fused_module(relax_module(model), cpu, True)
    with tvm.target.Target(cpu.llvm):
        mod = dlight.ApplyDefaultSchedule(*default_rules(cpu))(mod)
    scripts = [func.script() for _, func in mod.functions_items()]
    return [
        sum(line.startswith("    for ") for line in text.splitlines())
        for text in scripts
        if WINOGRAD_ATTR in text
    ]


@pytest.mark.parametrize("channels", [16, 96])
def test_residual_blocks_on_an_odd_map_match_onnxruntime(tmp_path, channels):
    # 5x6 tiles per image: Winograd, the last row and column partial; two images a batch.
    # 16 channels run by rows of tiles (one loop nest), 96 (590 KB of transformed weights)
    # in three (the transforms and the products over all tiles)
    model = _residual_block((9, 11), channels, batch=2)
    assert _winograd_functions(model) == 2
    assert _loop_nests(model) == ([1, 1] if channels == 16 else [3, 3])
    path = tmp_path / "residual.onnx"
    onnx.save(model, str(path))
    x = np.random.default_rng(5).standard_normal((10, 2, channels, 9, 11)).astype(np.float32)
    np.savez(tmp_path / "data.npz", x=x)
    out = tmp_path / "out"
    compile_tvm(path, out, "host")
    status, report, saved = validate_cli(out, tmp_path / "data.npz", "host")
    check_float_validation(status, report, saved, onnxruntime_outputs(path, {"input": x}))


def test_small_maps_keep_the_direct_kernel():
    assert _winograd_functions(_residual_block((4, 4), 16)) == 0
