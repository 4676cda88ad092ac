"""Generated C of the shared models, built for this computer with sanitizers and for Cortex-M4.

int8 models (and KWS / mnist-8 quantized by edgec in int8, 16x8 and mixed precision): the
host build's outputs equal the integer reference executor's on 100 seeded random inputs, and
KWS's equal TensorFlow Lite Micro's stored outputs on all 1000 samples.
Float models: within rtol 1e-4 / atol 1e-5 of onnxruntime on the source model. Every folder
also compiles with the Arm cross compiler, and a model with hostile names compiles and runs.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from conftest import needs_tools, shared_path

from edgec.backends.c.build import build_host, c_sources, run_host
from edgec.backends.c.render import render_host_runner
from edgec.compiler import CompileOptions, compile_model
from edgec.interp import Interpreter
from edgec.resources import templates_dir

INT8_MODELS = {
    "kws": ("kws_dscnn", "kws_ref_model_int8_qdq.onnx"),
    "ic_resnet8": ("ic_resnet8", "pretrainedResnet_quant_int8_qdq.onnx"),
    "vww": ("vww_mobilenet", "vww_96_int8_qdq.onnx"),
    "ad01": ("ad_autoencoder", "ad01_int8_qdq.onnx"),
    "hello_world": ("hello_world_sine", "hello_world_int8_qdq.onnx"),
    "kws_tf2onnx": ("kws_dscnn", "tf2onnx_nhwc", "kws_ref_model.onnx"),
    "ad01_tf2onnx": ("ad_autoencoder", "tf2onnx", "ad01_int8.onnx"),
}
# name -> (path, low, high): inputs drawn uniformly from the range the model was trained on.
FLOAT_MODELS = {
    "kws": (("kws_dscnn", "kws_ref_model_float32.onnx"), -30.0, 30.0),
    "kws_tf2onnx": (("kws_dscnn", "tf2onnx_nhwc", "kws_ref_model_float32.onnx"), -30.0, 30.0),
    "ic_resnet8": (("ic_resnet8", "pretrainedResnet.onnx"), 0.0, 255.0),
    "vww": (("vww_mobilenet", "vww_96_float.onnx"), 0.0, 1.0),
    "vww_tf2onnx": (("vww_mobilenet", "tf2onnx_nhwc", "vww_96_float.onnx"), 0.0, 1.0),
    "ad01": (("ad_autoencoder", "ad01_fp32.onnx"), -60.0, 10.0),
    "ad01_tf2onnx": (("ad_autoencoder", "tf2onnx", "ad01_fp32.onnx"), -60.0, 10.0),
    "hello_world": (("hello_world_sine", "hello_world_float.onnx"), 0.0, 6.3),
}
MNIST = ("mnist8", "model.onnx")
ARM_FLAGS = [
    "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16",
    "-Os", "-std=c99", "-Wall", "-Wextra", "-Werror", "-c",
]  # fmt: skip
RANDOM_SAMPLES = 100


class Built:
    """A compiled model folder and its sanitized host executable."""

    def __init__(self, model: Path, work: Path, options: CompileOptions | None = None):
        self.model = model
        self.result = compile_model(model, work / "out", options or CompileOptions())
        self.folder = self.result.out_dir
        self.manifest = self.result.manifest
        runner = work / "host_runner.c"
        runner.write_text(render_host_runner(self.manifest))
        self.exe = build_host(self.folder, runner, work / "model_host", sanitize=True)

    def run(self, samples: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
        specs = [(np.dtype(p.dtype), tuple(p.shape)) for p in self.manifest.outputs]
        return run_host(self.exe, samples, specs)


_built: dict[str, Built] = {}


def built(kind: str, name: str, parts: tuple[str, ...], tmp_path_factory) -> Built:
    """Compile and build each model once per session."""
    key = f"{kind}-{name}"
    if key not in _built:
        _built[key] = Built(shared_path("models", *parts), tmp_path_factory.mktemp(key))
    return _built[key]


def random_int8(graph, count: int, seed: int) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [
        [rng.integers(-128, 128, size=v.shape).astype(v.dtype) for v in graph.inputs]
        for _ in range(count)
    ]


@pytest.mark.parametrize("name", sorted(INT8_MODELS))
def test_int8_model_is_bit_exact_with_the_integer_reference(name, tmp_path_factory):
    model = built("int8", name, INT8_MODELS[name], tmp_path_factory)
    graph = model.result.graph
    assert all(np.dtype(v.dtype) == np.int8 for v in graph.inputs)
    check_against_reference(model, random_int8(graph, RANDOM_SAMPLES, seed=20261122))


def check_against_reference(model: Built, samples: list[list[np.ndarray]]) -> None:
    graph = model.result.graph
    outputs = model.run(samples)
    interp = Interpreter(graph)
    differing = 0
    for sample, got in zip(samples, outputs):
        ref = interp.run({v.name: a for v, a in zip(graph.inputs, sample)})
        for value, out in zip(graph.outputs, got):
            expected = ref[value.name]
            assert out.dtype == expected.dtype and out.shape == expected.shape
            differing += int(not np.array_equal(out, expected))
    assert differing == 0, f"{differing} of {len(samples)} outputs differ"


# Models quantized by edgec itself (int8, 16x8, and the mixed "auto" with requantizations).
KWS_SCALE, KWS_ZP = 0.5847029089927673, 83


def edgec_quantized(name: str, mode: str, tmp_path_factory) -> Built:
    key = f"ptq-{name}-{mode}"
    if key not in _built:
        work = tmp_path_factory.mktemp(key)
        if name == "kws":
            model = shared_path("models", "kws_dscnn", "kws_ref_model_float32.onnx")
            calib = dict(calib=str(shared_path("data", "kws01")), calib_dtype="int8",
                         data_scale=KWS_SCALE, data_zero_point=KWS_ZP)  # fmt: skip
        else:
            model = shared_path("models", *MNIST)
            np.savez(work / "calib.npz", x=np.concatenate([s[0] for s in mnist_images(40)]))
            calib = dict(calib=str(work / "calib.npz"))
        options = CompileOptions(quantize=mode, calib_samples=40, sqnr_threshold_db=25.0, **calib)
        _built[key] = Built(model, work, options)
    return _built[key]


@pytest.mark.parametrize(
    "name,mode",
    [("kws", "int8"), ("kws", "int16x8"), ("kws", "auto"), ("mnist8", "int8"),
     ("mnist8", "int16x8")],
)  # fmt: skip
def test_models_quantized_by_edgec_are_bit_exact(name, mode, tmp_path_factory):
    model = edgec_quantized(name, mode, tmp_path_factory)
    graph = model.result.graph
    kinds = {np.dtype(v.dtype) for n in graph.nodes for v in n.outputs}
    wanted = {"int8": {np.int8}, "int16x8": {np.int16}, "auto": {np.int8, np.int16}}[mode]
    assert {np.dtype(t) for t in wanted} <= kinds  # auto: mixed, with requantizations between
    rng = np.random.default_rng(3)
    samples = [
        [rng.integers(np.iinfo(v.dtype).min, np.iinfo(v.dtype).max, v.shape, endpoint=True)
         .astype(v.dtype) for v in graph.inputs]
        for _ in range(RANDOM_SAMPLES)
    ]  # fmt: skip
    check_against_reference(model, samples)


def kws_samples() -> tuple[list[list[np.ndarray]], np.ndarray]:
    folder = shared_path("data", "kws01")
    files = sorted(folder.glob("*.bin"))
    samples = [[np.fromfile(f, np.int8).reshape(1, 1, 49, 10)] for f in files]
    return samples, np.load(folder / "tflm_int8_outputs.npy")


def test_kws_matches_tflite_micro_on_all_1000_samples(tmp_path_factory):
    model = built("int8", "kws", INT8_MODELS["kws"], tmp_path_factory)
    samples, expected = kws_samples()
    assert len(samples) == 1000 and expected.shape == (1000, 12)
    got = np.stack([out[0].reshape(12) for out in model.run(samples)])
    rows = np.all(got == expected, axis=1)
    assert rows.all(), f"{(~rows).sum()} of 1000 rows differ from TFLM, first {np.argmin(rows)}"


def float_inputs(session: ort.InferenceSession, graph, low, high, count, seed):
    rng = np.random.default_rng(seed)
    return [
        [rng.uniform(low, high, size=v.shape).astype(np.float32) for v in graph.inputs]
        for _ in range(count)
    ]


def check_float_model(model: Built, low: float, high: float, samples=None) -> None:
    graph = model.result.graph
    session = ort.InferenceSession(str(model.model), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    if samples is None:
        samples = float_inputs(session, graph, low, high, 10, seed=5)
    outputs = model.run(samples)
    for sample, got in zip(samples, outputs):
        expected = session.run(None, dict(zip(names, sample)))
        for out, ref in zip(got, expected):
            np.testing.assert_allclose(out, ref.reshape(out.shape), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(FLOAT_MODELS))
def test_float_model_matches_onnxruntime(name, tmp_path_factory):
    parts, low, high = FLOAT_MODELS[name]
    check_float_model(built("float", name, parts, tmp_path_factory), low, high)


def mnist_images(count: int) -> list[list[np.ndarray]]:
    """Real test digits: uniform noise gives logits in the hundreds, where float32 summation
    order alone moves values near zero by more than the absolute tolerance."""
    with gzip.open(shared_path("data", "mnist", "t10k-images-idx3-ubyte.gz")) as handle:
        raw = np.frombuffer(handle.read(), np.uint8, offset=16)
    images = raw.reshape(-1, 1, 1, 28, 28)[:count].astype(np.float32)
    return [[image] for image in images]


def test_mnist8_matches_onnxruntime_on_test_digits(tmp_path_factory):
    model = built("float", "mnist8", MNIST, tmp_path_factory)
    check_float_model(model, 0.0, 0.0, samples=mnist_images(20))


def arm_size(folder: Path, work: Path) -> dict[str, int]:
    """Cross-compile every source of a generated folder; text/data/bss of the objects."""
    compiler = shutil.which("arm-none-eabi-gcc") or "arm-none-eabi-gcc"
    objects = []
    for source in c_sources(folder):
        obj = work / (source.stem + ".o")
        done = subprocess.run(
            [compiler, *ARM_FLAGS, f"-I{folder}", str(source), "-o", str(obj)],
            capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[:2000]
        objects.append(str(obj))
    size = subprocess.run(
        ["arm-none-eabi-size", "-t", *objects], capture_output=True, text=True, check=True
    )
    text, data, bss = (int(v) for v in size.stdout.strip().splitlines()[-1].split()[:3])
    return {"text": text, "data": data, "bss": bss}


@needs_tools("arm-none-eabi-gcc", "arm-none-eabi-size")
@pytest.mark.parametrize(
    "kind,name",
    [("int8", n) for n in sorted(INT8_MODELS)]
    + [("float", n) for n in sorted(FLOAT_MODELS)]
    + [("float", "mnist8")],
)
def test_folder_cross_compiles_for_cortex_m4(kind, name, tmp_path_factory, record_property):
    parts = INT8_MODELS[name] if kind == "int8" else FLOAT_MODELS.get(name, (MNIST,))[0]
    model = built(kind, name, parts, tmp_path_factory)
    sizes = arm_size(model.folder, tmp_path_factory.mktemp(f"arm-{kind}-{name}"))
    record_property("arm_size", sizes)
    # The arena is the only static RAM; weights and parameters are const (flash).
    assert sizes["bss"] >= model.result.arena_bytes
    assert sizes["data"] == 0
    assert sizes["text"] >= model.result.weight_bytes


@needs_tools("arm-none-eabi-gcc")
def test_every_kernel_source_cross_compiles(tmp_path):
    """Kernels no shared model uses (HardSwish, Tanh, int16 softmax…) build for the M4 too."""
    kernels = templates_dir() / "c" / "kernels"
    sources = sorted(kernels.glob("*.c"))
    assert {"conv_int.c", "eltwise_int.c", "sigmoid_int.c", "softmax_int.c"} <= {
        s.name for s in sources
    }
    for source in sources:
        done = subprocess.run(
            ["arm-none-eabi-gcc", *ARM_FLAGS, f"-I{kernels}", str(source), "-o",
             str(tmp_path / (source.stem + ".o"))],
            capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, f"{source.name}: {done.stderr[:2000]}"


# ---- hostile names -----------------------------------------------------------------------------
HOSTILE = [
    "quote\"s\\and'apostrophes",
    "new\nline\r\n",
    "comment */ closed /* open",
    '#include <stdlib.h>\n#define int "x"',
    "int",
    "return",
    "caf\u00e9 \u6a21\u578b \U0001f600",
    "??/ trigraph ??=",
    "",
]


def hostile_copy(source: Path, target: Path) -> None:
    """The model with every node and value name replaced by a hostile (unique) string."""
    model = onnx.load(str(source))
    graph = model.graph
    names: dict[str, str] = {}

    def rename(name: str) -> str:
        if not name:
            return name
        if name not in names:
            names[name] = f"{HOSTILE[len(names) % len(HOSTILE)]}#{len(names)}"
        return names[name]

    for value in [*graph.input, *graph.output, *graph.value_info]:
        value.name = rename(value.name)
    for init in graph.initializer:
        init.name = rename(init.name)
    for index, node in enumerate(graph.node):
        node.input[:] = [rename(n) for n in node.input]
        node.output[:] = [rename(n) for n in node.output]
        node.name = f"{HOSTILE[index % len(HOSTILE)]}*/{index}"
    onnx.save(model, str(target))


def test_hostile_names_compile_and_run(tmp_path):
    source = shared_path("models", *INT8_MODELS["kws"])
    hostile = tmp_path / "hostile.onnx"
    hostile_copy(source, hostile)
    model = Built(hostile, tmp_path)
    for name in (f for f in model.folder.iterdir() if f.suffix in (".c", ".h")):
        text = name.read_text()
        assert text.isascii()
        directives = [line.strip() for line in text.splitlines() if line.lstrip().startswith("#")]
        assert not any(d.startswith(("#include <stdlib.h>", "#define int")) for d in directives)
        assert "comment */ closed" not in text  # a name never closes the comment it is in
    samples, expected = kws_samples()
    got = np.stack([out[0].reshape(12) for out in model.run(samples[:50])])
    np.testing.assert_array_equal(got, expected[:50])
