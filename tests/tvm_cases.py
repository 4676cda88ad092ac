"""Models and inputs for the TVM backend's tests and ``bench/tvm.py``.

The float models in ../shared with ten real (or, where ../shared has no data for the model,
seeded in-range) inputs each; and the onnx wheel's ``light/`` model-zoo architectures, whose
weights are ``ConstantOfShape`` placeholders, given real random weights (He-scaled, so the
activations of a 50-layer network stay in a range where float32 comparisons mean something).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from tests.conftest import shared_path

SAMPLES = 10
KWS_SCALE, KWS_ZERO_POINT = 0.5847029089927673, 83


@dataclass(frozen=True)
class SharedModel:
    key: str
    path: tuple[str, ...]  # under ../shared


SHARED_FLOAT_MODELS = [
    SharedModel("kws", ("models", "kws_dscnn", "kws_ref_model_float32.onnx")),
    SharedModel("ic", ("models", "ic_resnet8", "pretrainedResnet.onnx")),
    SharedModel("vww", ("models", "vww_mobilenet", "vww_96_float.onnx")),
    SharedModel("ad", ("models", "ad_autoencoder", "ad01_fp32.onnx")),
    SharedModel("mnist8", ("models", "mnist8", "model.onnx")),
    SharedModel("hello_world", ("models", "hello_world_sine", "hello_world_float.onnx")),
]


def shared_inputs(key: str, count: int = SAMPLES) -> np.ndarray:
    """``count`` inputs for the shared model ``key``, shaped [count, *input_shape]."""
    rng = np.random.default_rng(20261130)
    if key == "kws":
        folder = shared_path("data", "kws01")
        files = sorted(folder.glob("*.bin"))[:count]
        q = np.stack([np.fromfile(f, dtype=np.int8).reshape(1, 1, 49, 10) for f in files])
        return ((q.astype(np.float32) - KWS_ZERO_POINT) * np.float32(KWS_SCALE)).astype(np.float32)
    if key == "mnist8":
        path = shared_path("data", "mnist", "t10k-images-idx3-ubyte.gz")
        with gzip.open(path) as f:
            raw = f.read()
        images = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 1, 1, 28, 28)
        return images[:count].astype(np.float32)
    if key == "ad":
        path = shared_path("data", "ad_sample", "normal_id_01_00000000_hist_librosa.bin")
        slices = np.fromfile(path, np.float32).reshape(200, 128)
        return np.stack([slices[i : i + 5].reshape(1, 640) for i in range(count)])
    if key == "hello_world":
        return np.linspace(0, 2 * np.pi, count, dtype=np.float32).reshape(count, 1, 1)
    if key == "ic":  # CIFAR-10 is not in ../shared: in-range raw pixels (0..255)
        return rng.integers(0, 256, (count, 1, 3, 32, 32)).astype(np.float32)
    if key == "vww":  # pixel / 255
        return rng.random((count, 1, 3, 96, 96), dtype=np.float32)
    raise KeyError(key)


def light_folder() -> Path:
    return Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


def light_names() -> list[str]:
    """``bvlc_alexnet``, ``densenet121``, … (the ``light_*.onnx`` files of the onnx wheel)."""
    return sorted(p.stem.removeprefix("light_") for p in light_folder().glob("light_*.onnx"))


def light_model(name: str, dest: Path, seed: int = 0) -> Path:
    """``light_<name>.onnx`` with every ``ConstantOfShape`` placeholder replaced by random
    weights (an initializer), written to ``dest``."""
    model = onnx.load(str(light_folder() / f"light_{name}.onnx"))
    graph = model.graph
    rng = np.random.default_rng(seed)
    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    uses: dict[str, tuple[str, int]] = {}
    for node in graph.node:
        for index, value in enumerate(node.input):
            uses.setdefault(value, (node.op_type, index))
    weights, kept = [], []
    for node in graph.node:
        if node.op_type != "ConstantOfShape":
            kept.append(node)
            continue
        shape = tuple(int(d) for d in consts[node.input[0]])
        name = node.output[0]
        weights.append(numpy_helper.from_array(_weight(shape, uses.get(name), rng), name))
    shape_inputs = {n.input[0] for n in graph.node if n.op_type == "ConstantOfShape"}
    initializers = [t for t in graph.initializer if t.name not in shape_inputs] + weights
    init_names = {t.name for t in initializers}
    inputs = [i for i in graph.input if i.name not in init_names and i.name not in shape_inputs]
    new_graph = helper.make_graph(
        kept, graph.name, inputs, list(graph.output), initializers, value_info=graph.value_info
    )
    out = helper.make_model(new_graph, opset_imports=list(model.opset_import))
    out.ir_version = max(model.ir_version, 4)  # 4: initializers need not be graph inputs
    _scale_classifier(out, rng)
    onnx.checker.check_model(out)
    dest.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(out, str(dest))
    return dest


def _scale_classifier(model: onnx.ModelProto, rng) -> None:
    """Scale the weights of the Gemm before the final Softmax so that its logits have unit
    spread: random deep networks otherwise saturate the Softmax into a one-hot vector, where
    any two implementations agree trivially."""
    import onnxruntime as ort

    graph = model.graph
    producers = {o: n for n in graph.node for o in n.output}
    softmax = next((n for n in graph.node if n.op_type == "Softmax"), None)
    gemm = producers.get(softmax.input[0]) if softmax is not None else None
    if gemm is None or gemm.op_type != "Gemm":
        return
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output.append(helper.make_empty_tensor_value_info(gemm.output[0]))
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {
        i.name: rng.standard_normal(
            [d.dim_value or 1 for d in i.type.tensor_type.shape.dim]
        ).astype(np.float32)
        for i in graph.input
    }
    logits_std = float(np.std(session.run([gemm.output[0]], feeds)[0]))
    # The weights may reach the Gemm through a Reshape: scale the initializer behind it.
    name = gemm.input[1]
    while name in producers and producers[name].op_type in ("Reshape", "Transpose", "Flatten"):
        name = producers[name].input[0]
    weights = next(t for t in graph.initializer if t.name == name)
    if logits_std > 0:
        scaled = numpy_helper.to_array(weights) / logits_std
        weights.CopyFrom(numpy_helper.from_array(scaled.astype(np.float32), weights.name))


def _weight(shape: tuple[int, ...], use: tuple[str, int] | None, rng) -> np.ndarray:
    op, index = use or ("", 0)
    if len(shape) >= 2:  # conv / fully connected weights: He initialisation
        fan_in = int(np.prod(shape[1:])) if op != "Gemm" else int(shape[-1])
        return (rng.standard_normal(shape) * np.sqrt(2.0 / max(fan_in, 1))).astype(np.float32)
    if op == "BatchNormalization" and index == 4:  # variance
        return rng.uniform(0.5, 1.5, shape).astype(np.float32)
    if op == "BatchNormalization" and index == 1:  # scale
        return rng.uniform(0.8, 1.2, shape).astype(np.float32)
    return rng.uniform(-0.1, 0.1, shape).astype(np.float32)


def light_inputs(model_path: Path, count: int = SAMPLES, seed: int = 1) -> dict[str, np.ndarray]:
    """``count`` standard-normal images for each input of a light model (batch dim = count)."""
    model = onnx.load(str(model_path))
    rng = np.random.default_rng(seed)
    data = {}
    for value in model.graph.input:
        dims = [d.dim_value or 1 for d in value.type.tensor_type.shape.dim]
        data[value.name] = rng.standard_normal((count, *dims)).astype(np.float32)
    return data
