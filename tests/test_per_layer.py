"""``validate --per-layer`` on the emulated board: every step's output against the reference.

Two small CNNs built here with onnx.helper, a float one and its int8 QDQ twin (TFLite scheme),
compiled for mps2-an386. Unchanged, no step diverges (int8: bit for bit). With one weight of
the second convolution changed in the generated C, the report names that convolution, and
its error has the size the change implies (a bound or an exact LSB count computed here).
"""

from __future__ import annotations

import json
import math
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgec.artifact import Manifest
from edgec.compiler import CompileOptions, compile_model
from edgec.data import load_dataset
from edgec.harness.device import run_on_device
from edgec.harness.layers import compare_layers
from edgec.harness.report import load_memory
from edgec.harness.validate import ValidateOptions, validate
from edgec.quantize.qdq import load_reference_graph
from tests.conftest import needs_tools

HOSTILE = '<script>alert("x")</script>'
CONV1 = f"conv1 {HOSTILE}"
CONV2 = "conv2 <img src=x onerror=alert(1)>"
C2 = "c2 &amp; <b>"  # a value name that is already an HTML entity
SAMPLES = 8
INPUT_SCALE = np.float32(4.0 / 127)

needs_emulator = needs_tools("qemu-system-arm", "arm-none-eabi-gcc")


# ---- models -----------------------------------------------------------------------------------
def float_cnn(seed: int = 1, hostile: bool = True) -> onnx.ModelProto:
    """[1,1,8,8] → conv+relu [1,4,8,8] → conv stride 2 [1,4,4,4] (C == H == W) → GAP → FC →
    softmax; node and value names hold markup unless ``hostile`` is off."""
    rng = np.random.default_rng(seed)
    arrays = {
        "w1": rng.normal(0, 0.5, (4, 1, 3, 3)),
        "b1": rng.normal(0, 0.1, 4),
        "w2": rng.normal(0, 0.3, (4, 4, 3, 3)),
        "b2": rng.normal(0, 0.1, 4),
        "w3": rng.normal(0, 0.5, (3, 4)),
        "b3": rng.normal(0, 0.1, 3),
    }
    inits = [numpy_helper.from_array(a.astype(np.float32), n) for n, a in arrays.items()]
    x, r1 = (f"image {HOSTILE}", f"r1 {HOSTILE}") if hostile else ("image", "r1")
    conv1, conv2, c2 = (CONV1, CONV2, C2) if hostile else ("conv1", "conv2", "c2")
    nodes = [
        helper.make_node("Conv", [x, "w1", "b1"], ["c1"], name=conv1, pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], [r1], name="relu1"),
        helper.make_node(
            "Conv", [r1, "w2", "b2"], [c2], name=conv2, pads=[1, 1, 1, 1], strides=[2, 2]
        ),
        helper.make_node("GlobalAveragePool", [c2], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "w3", "b3"], ["logits"], name="fc", transB=1),
        helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "cnn",
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 3])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


def ort_values(model: onnx.ModelProto, names: list[str], inputs: np.ndarray) -> list[np.ndarray]:
    """Intermediate values of ``model`` in onnxruntime, stacked over samples."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for name in names:
        probe.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = session.get_inputs()[0].name
    runs = [session.run(names, {feed: x[None]}) for x in inputs]
    return [np.stack([r[k] for r in runs]) for k in range(len(names))]


def _affine(lo: float, hi: float) -> tuple[np.float32, int]:
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 255.0
    return np.float32(scale), int(np.clip(round(-128 - lo / scale), -128, 127))


def int8_cnn(calibration: np.ndarray) -> tuple[onnx.ModelProto, list[tuple[np.float32, int]]]:
    """The float CNN (plain names) in int8 QDQ: weights symmetric per output channel, int32
    biases at s_in × s_w, activations asymmetric per tensor from ``calibration``'s ranges."""
    float_model = float_cnn(hostile=False)
    weights = {i.name: numpy_helper.to_array(i) for i in float_model.graph.initializer}
    probes = ort_values(float_model, ["r1", "c2", "gap", "logits"], calibration)
    act = [_affine(float(v.min()), float(v.max())) for v in probes]
    nodes, inits = [], []

    def const(name: str, array) -> str:
        inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def dq(src: str, scale, zero, out: str, axis: int | None = None) -> str:
        extra = {} if axis is None else {"axis": axis}
        nodes.append(
            helper.make_node(
                "DequantizeLinear",
                [src, const(f"{out}_s", scale), const(f"{out}_z", zero)],
                [out],
                **extra,
            )
        )
        return out

    def qdq(src: str, params, name: str) -> str:
        scale, zero = params
        nodes.append(
            helper.make_node(
                "QuantizeLinear",
                [src, const(f"{name}_s", scale), const(f"{name}_z", np.int8(zero))],
                [name],
            )
        )
        return dq(name, scale, np.int8(zero), f"{name}_f")

    def quantized(w: str, b: str, in_scale) -> tuple[str, str]:
        data = weights[w]
        sw = (np.abs(data.reshape(len(data), -1)).max(axis=1) / 127).astype(np.float32)
        wq = np.round(data / sw.reshape(-1, *[1] * (data.ndim - 1))).astype(np.int8)
        bs = (np.float32(in_scale) * sw).astype(np.float32)
        bq = np.round(weights[b] / bs).astype(np.int32)
        zeros = np.zeros(len(data), np.int8)
        return (
            dq(const(f"{w}_q", wq), sw, zeros, f"{w}_f", axis=0),
            dq(const(f"{b}_q", bq), bs, zeros.astype(np.int32), f"{b}_f", axis=0),
        )

    x = dq("x_q", INPUT_SCALE, np.int8(0), "x_f")
    w1, b1 = quantized("w1", "b1", INPUT_SCALE)
    nodes.append(helper.make_node("Conv", [x, w1, b1], ["c1"], name="conv1", pads=[1, 1, 1, 1]))
    nodes.append(helper.make_node("Relu", ["c1"], ["r1"], name="relu1"))
    r1 = qdq("r1", act[0], "r1_q")
    w2, b2 = quantized("w2", "b2", act[0][0])
    nodes.append(
        helper.make_node(
            "Conv", [r1, w2, b2], ["c2"], name="conv2", pads=[1, 1, 1, 1], strides=[2, 2]
        )
    )
    c2 = qdq("c2", act[1], "c2_q")
    nodes.append(helper.make_node("GlobalAveragePool", [c2], ["g"], name="gap"))
    g = qdq("g", act[2], "g_q")
    nodes.append(helper.make_node("Flatten", [g], ["flat"], name="flatten"))
    flat = qdq("flat", act[2], "flat_q")
    w3, b3 = quantized("w3", "b3", act[2][0])
    nodes.append(helper.make_node("Gemm", [flat, w3, b3], ["logits"], name="fc", transB=1))
    scale, zero = act[3]
    nodes.append(
        helper.make_node(
            "QuantizeLinear",
            ["logits", const("y_s", scale), const("y_z", np.int8(zero))],
            ["y_q"],
        )
    )
    graph = helper.make_graph(
        nodes,
        "cnn_int8",
        [helper.make_tensor_value_info("x_q", TensorProto.INT8, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("y_q", TensorProto.INT8, [1, 3])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    onnx.checker.check_model(model)
    return model, act


def sample_inputs(count: int, seed: int = 2) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 1, (count, 1, 8, 8)).astype(np.float32)


def quantize_inputs(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x / INPUT_SCALE), -128, 127).astype(np.int8)


def write_data(path: Path, x: np.ndarray, labels: np.ndarray) -> Path:
    np.savez(path, x=x, y=labels)
    return path


# ---- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def float_model(tmp_path_factory):
    """(out dir, onnx model, data .npz, inputs): labels are onnxruntime's classes, 2 changed."""
    folder = tmp_path_factory.mktemp("per_layer_float")
    model = float_cnn()
    onnx.save(model, folder / "cnn.onnx")
    x = sample_inputs(SAMPLES)
    classes = ort_values(model, ["probs"], x)[0].reshape(SAMPLES, -1).argmax(axis=1)
    classes[:2] = (classes[:2] + 1) % 3
    data = write_data(folder / "data.npz", x, classes)
    result = compile_model(folder / "cnn.onnx", folder / "out", CompileOptions(target="mps2-an386"))
    return result.out_dir, model, data, x


@pytest.fixture(scope="module")
def int8_model(tmp_path_factory):
    """(out dir, activation (scale, zero point) list, data .npz with onnxruntime's classes)."""
    folder = tmp_path_factory.mktemp("per_layer_int8")
    model, act = int8_cnn(sample_inputs(32, seed=3))
    onnx.save(model, folder / "cnn8.onnx")
    xq = quantize_inputs(sample_inputs(SAMPLES))
    session = ort.InferenceSession(str(folder / "cnn8.onnx"), providers=["CPUExecutionProvider"])
    classes = np.array([session.run(None, {"x_q": x[None]})[0].argmax() for x in xq])
    data = write_data(folder / "data.npz", xq, classes)
    # portable kernels: their weight arrays hold the plain weights that change_weight edits
    # (the DSP kernels' record streams interleave biases and requantization constants)
    result = compile_model(
        folder / "cnn8.onnx",
        folder / "out",
        CompileOptions(target="mps2-an386", kernels="portable"),
    )
    return result.out_dir, act, data


def change_weight(out_dir: Path, copy: Path, node: str, change) -> tuple[Path, float]:
    """A copy of ``out_dir`` whose first weight of ``node`` in ``*_weights.c`` is ``change(old)``.

    Returns the copy and the change made (new − old).
    """
    shutil.copytree(out_dir, copy)
    memory = json.loads((copy / "memory.json").read_text())
    array = next(w["name"] for w in memory["weights"] if w["what"] == f"{node} weights")
    source = next(copy.glob("*_weights.c"))
    text = source.read_text()
    start = re.search(rf"static const \w+ {array}\[\d+\][^=]*=\s*\{{\s*", text).end()
    end = text.index(",", start)
    literal = text[start:end].strip()
    old = float.fromhex(literal.rstrip("f")) if "0x" in literal else float(literal.rstrip("f"))
    new = change(old)
    replacement = f"{new!r}f" if isinstance(new, float) else str(new)
    source.write_text(text[:start] + replacement + text[end:])
    return copy, float(new) - old


def refuse(name: str):
    raise ValueError(f"non-standard JSON constant {name}")


def step_index(out_dir: Path, node: str) -> int:
    return next(s["step"] for s in load_memory(out_dir)["steps"] if s["node"] == node)


class _Rows(HTMLParser):
    """Table rows of an HTML page: (class attribute, cell texts)."""

    def __init__(self):
        super().__init__()
        self.rows: list[tuple[str | None, list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append((dict(attrs).get("class"), []))
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self.rows:
            self.rows[-1][1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def html_rows(path: Path) -> list[tuple[str | None, list[str]]]:
    parser = _Rows()
    parser.feed(path.read_text())
    return parser.rows


# ---- float ------------------------------------------------------------------------------------
@needs_emulator
def test_float_steps_match_onnxruntime_in_nhwc_and_none_diverge(float_model):
    out_dir, model, data, x = float_model
    manifest = Manifest.load(out_dir)
    options = ValidateOptions(data=str(data), device="emulator", per_layer=True, progress=False)
    dataset = load_dataset(data, manifest.inputs, None, None, None, None, None, SAMPLES)
    run = run_on_device(out_dir, manifest, dataset, options)
    assert run.error is None and len(run.layers) == SAMPLES
    result = compare_layers(
        manifest,
        load_memory(out_dir),
        load_reference_graph(out_dir / "reference.onnx"),
        dataset,
        run,
    )

    # Independent of edgec: onnxruntime's intermediates; conv outputs are dumped channels-last.
    names = [f"r1 {HOSTILE}", C2, "gap", "logits", "probs"]
    expected = ort_values(model, names, x)
    layers = result["per_layer"]["layers"]
    assert [e["op"] for e in layers] == ["Conv", "Conv", "GlobalAveragePool", "Gemm", "Softmax"]
    for k, want in enumerate(expected):
        dumped = np.stack([run.layers[i][k] for i in range(SAMPLES)])
        if k < 2:
            dumped = np.moveaxis(dumped, -1, 2)  # [N, 1, H, W, C] → [N, 1, C, H, W]
        got = dumped.reshape(want.shape)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        entry = layers[k]
        assert entry["compared"] and not entry["diverges"]
        # The reported error is device vs the reference executor, which sits within float32
        # rounding of onnxruntime: both are far below the tolerance.
        assert entry["max_abs_error"] <= np.abs(got - want).max() + 1e-5
        assert entry["max_abs_error"] < entry["tolerance"]
    # [1,4,4,4] is the same shape in NCHW and NHWC: the data, not the shape, picked NHWC.
    assert layers[0]["layout"] == layers[1]["layout"] == "channels_last"
    assert result["first_divergent_layer"] is None and result["first_divergent_step"] is None


@needs_emulator
def test_a_changed_float_weight_is_named_as_the_first_divergent_layer(float_model, tmp_path):
    out_dir, model, data, x = float_model
    changed, delta = change_weight(out_dir, tmp_path / "out", CONV2, lambda w: w + 2.0)
    assert delta == pytest.approx(2.0)
    report_dir = tmp_path / "report"
    report = validate(
        changed,
        ValidateOptions(
            data=str(data),
            device="emulator",
            per_layer=True,
            report_dir=str(report_dir),
            progress=False,
        ),
    )
    step = step_index(changed, CONV2)
    assert step == 1
    assert report["first_divergent_step"] == step
    assert report["first_divergent_layer"] == f"Conv {CONV2!r} (step 1)"
    layers = report["per_layer"]["layers"]
    assert not layers[0]["diverges"] and layers[1]["diverges"]
    # One weight moved by 2: each output changes by at most 2 × the largest input it reads.
    r1 = ort_values(model, [f"r1 {HOSTILE}"], x)[0]
    assert 0 < layers[1]["max_abs_error"] <= 2.0 * float(np.abs(r1).max()) * (1 + 1e-5)
    saved = json.loads((report_dir / "report.json").read_text())
    assert saved["first_divergent_layer"] == report["first_divergent_layer"]
    rows = html_rows(report_dir / "report.html")
    bad = [cells for cls, cells in rows if cls == "bad"]
    assert bad and bad[0][0] == "1" and bad[0][2].startswith("conv2 <img")  # text, unescaped
    summary = {cells[0]: cells[1] for _, cells in rows if len(cells) == 2}
    assert summary["first divergent layer"] == report["first_divergent_layer"]
    assert "<img" not in (report_dir / "report.html").read_text()


# ---- int8 -------------------------------------------------------------------------------------
@needs_emulator
def test_int8_steps_are_bit_exact_on_the_device(int8_model, tmp_path):
    out_dir, act, data = int8_model
    report = validate(
        out_dir,
        ValidateOptions(
            data=str(data),
            device="emulator",
            per_layer=True,
            report_dir=str(tmp_path),
            progress=False,
        ),
    )
    assert report["bit_exact"] == SAMPLES
    layers = report["per_layer"]["layers"]
    assert [e["node"] for e in layers] == ["conv1", "conv2", "gap", "fc"]
    for entry in layers:
        assert entry["compared"] and entry["integer"]
        assert entry["exact_samples"] == SAMPLES and entry["mismatched_elements"] == 0
        assert entry["max_abs_error"] == 0.0 and entry["snr_db"] == float("inf")
    assert report["first_divergent_layer"] is None
    # onnxruntime rescales in float, TFLM-style kernels in fixed point: at most 1 LSB apart.
    assert report["max_abs_error"] <= float(act[3][0]) * (1 + 1e-6)

    saved = json.loads((tmp_path / "report.json").read_text(), parse_constant=refuse)
    for entry in saved["per_layer"]["layers"]:
        assert entry["snr_db"] is None and entry["snr_db_exact"] is True


@needs_emulator
def test_a_changed_int8_weight_is_named_and_measured_in_lsb(int8_model, tmp_path):
    out_dir, act, data = int8_model
    changed, delta = change_weight(
        out_dir, tmp_path / "out", "conv2", lambda w: int(w - 60 if w > 0 else w + 60)
    )
    assert abs(delta) == 60
    report = validate(
        changed,
        ValidateOptions(
            data=str(data),
            device="emulator",
            per_layer=True,
            report_dir=str(tmp_path / "report"),
            progress=False,
        ),
    )
    assert report["first_divergent_layer"] == "Conv 'conv2' (step 1)"
    layers = report["per_layer"]["layers"]
    assert layers[0]["exact_samples"] == SAMPLES and not layers[0]["diverges"]
    wrong = layers[1]
    assert wrong["diverges"] and wrong["exact_samples"] < SAMPLES
    assert wrong["first_divergent_sample"] is not None
    # Only output channel 0 reads the changed weight: at most a quarter of the elements.
    assert 0 < wrong["mismatched_elements"] <= SAMPLES * wrong["elements"] // 4
    # In real units the error is the LSB count times the output scale of conv2.
    assert wrong["max_abs_error_lsb"] >= 1
    assert wrong["max_abs_error"] == pytest.approx(
        wrong["max_abs_error_lsb"] * float(act[1][0]), rel=1e-6
    )
    # The last step writes the model output: its exact count is the report's bit_exact.
    assert report["bit_exact"] == layers[-1]["exact_samples"]


# ---- without a device -------------------------------------------------------------------------
def test_onnxruntime_values_as_dumps_pass_and_a_nan_diverges(tmp_path):
    """onnxruntime's intermediates, laid out as the device dumps them, stand in for a device."""
    from edgec.harness.report import write_json
    from edgec.harness.run import DeviceRun

    model = float_cnn(hostile=False)
    onnx.save(model, tmp_path / "cnn.onnx")
    x = sample_inputs(4)
    data = write_data(tmp_path / "data.npz", x, np.zeros(4, dtype=np.int64))
    out = compile_model(tmp_path / "cnn.onnx", tmp_path / "out", CompileOptions()).out_dir
    manifest, memory = Manifest.load(out), load_memory(out)
    dataset = load_dataset(data, manifest.inputs, None, None, None, None, None, None)
    values = ort_values(model, ["r1", "c2", "gap", "logits", "probs"], x)
    shapes = [tuple(t["shape"]) for s in memory["steps"] for t in memory["tensors"]
              if t["buffer"] == s["output"]]  # fmt: skip
    layers = [
        [
            (np.moveaxis(v[i][0], 0, -1) if k < 2 else v[i]).reshape(shapes[k])
            for k, v in enumerate(values)
        ]
        for i in range(4)
    ]
    run = DeviceRun(outputs=[[values[-1][i]] for i in range(4)], layers=layers)
    graph = load_reference_graph(out / "reference.onnx")
    result = compare_layers(manifest, memory, graph, dataset, run)
    assert result["first_divergent_layer"] is None
    assert all(e["compared"] and not e["diverges"] for e in result["per_layer"]["layers"])

    layers[3][2] = layers[3][2].copy()
    layers[3][2].flat[1] = np.nan  # one NaN in the pooled vector of sample 3
    result = compare_layers(manifest, memory, graph, dataset, run)
    assert result["first_divergent_layer"] == "GlobalAveragePool 'gap' (step 2)"
    entry = result["per_layer"]["layers"][2]
    assert entry["first_divergent_sample"] == 3 and math.isnan(entry["max_abs_error"])
    write_json(result, tmp_path / "layers.json")
    saved = json.loads((tmp_path / "layers.json").read_text(), parse_constant=refuse)
    assert saved["per_layer"]["layers"][2]["max_abs_error"] is None
    assert saved["per_layer"]["layers"][2]["max_abs_error_nonfinite"] == "nan"
