"""Post-training quantization, side by side: edgec vs onnxruntime's quantize_static vs TFLite.

    python bench/ptq.py [--out bench/results_ptq.json]

- KWS (float model): calibrate on kws01 samples 0-199 (float samples only; the scored
  samples never reach the quantizer), score on 200-999: accuracy, top-1 agreement with the
  float model and output SNR against it, for edgec's default int8 PTQ, each of its levers
  taken away or added (``LEVERS``), every calibration method, and onnxruntime's.
- mnist-8: calibrate on 500 test images, score on the other 9500.
- AD autoencoder: the 196 windows of the AD sample, output SNR against the float model, for
  edgec int8 / auto and for the TFLite int8 model run in TFLite Micro.

edgec's quantized graphs run in edgec's integer reference executor, which the generated C
reproduces bit for bit (tests/test_c_models.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import (
    KWS_SCALE,
    KWS_ZERO_POINT,
    MODELS,
    ad_windows,
    kws_data,
    kws_float,
    mnist_data,
    snr_db,
)
from edgec.compiler import CompileOptions, prepare_graph, quantize_with_options
from edgec.frontend import load_model
from edgec.interp import Interpreter
from edgec.ops.quant import quantize
from edgec.passes import fold
from edgec.quantize.weight_choice import equalized

EDGEC_METHODS = ("minmax", "percentile", "mse", "entropy")
# edgec's default int8 PTQ (percentile ranges, input grid, range search of pooled tensors,
# im2col bias correction), then each lever taken from it or added to it (CompileOptions)
LEVERS = {
    "edgec int8 default": {},
    "edgec int8 default without input grid": {"input_grid": False},
    "edgec int8 default without range search": {"range_search": "none"},
    "edgec int8 default, range search of every tensor": {"range_search": "all"},
    "edgec int8 default without bias correction": {"bias_correction": False},
    "edgec int8 default + empirical bias correction": {"empirical_bias": True},
    "edgec int8 default + optimized weight rounding": {"weight_rounding": "optimized"},
    "edgec int8 default + cross-layer equalization": {"equalize": True},
    "edgec int8 percentile, no levers": {
        "input_grid": False,
        "range_search": "none",
        "bias_correction": False,
    },
}


def float_outputs(model: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.stack([session.run(None, {name: s})[0] for s in x]).reshape(len(x), -1)


def edgec_outputs(graph, x_float: np.ndarray, x_int: np.ndarray | None = None) -> np.ndarray:
    """Dequantized outputs of an integer graph (inputs quantized with its own parameters)."""
    run = Interpreter(graph)
    inp, out = graph.inputs[0], graph.outputs[0]
    results = []
    for i, s in enumerate(x_float):
        if inp.quant is None:
            feed = s
        elif x_int is not None:
            feed = x_int[i]
        else:
            feed = quantize(s, inp.quant.scale, inp.quant.zero_point, inp.dtype)
        y = run.run({inp.name: feed})[out.name]
        if out.quant is not None:
            y = (y.astype(np.float64) - float(out.quant.zero_point)) * float(out.quant.scale)
        results.append(y)
    return np.stack(results).reshape(len(x_float), -1)


def edgec_quantized(
    model: Path, calib: np.ndarray, mode: str, method: str, equalize: bool = False, **extra
):
    """The integer graph ``compile --quantize`` makes (``equalize``: of the float model after
    cross-layer equalization)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "calib.npz"
        np.savez(path, x=calib)
        options = CompileOptions(quantize=mode, calib=str(path), calib_method=method, **extra)
        if not equalize:
            return prepare_graph(model, options)
        graph = fold(load_model(model))
        graph = equalized(graph) or graph
        return quantize_with_options(graph, options)[0]


def ort_quantized(model: Path, calib: np.ndarray, method: str) -> Path:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self, name):
            self.items = iter([{name: s} for s in calib])

        def get_next(self):
            return next(self.items, None)

    tmp = Path(tempfile.mkdtemp())
    upgraded = tmp / "opset13.onnx"  # its per-channel output is invalid below opset 13
    onnx.save(onnx.version_converter.convert_version(onnx.load(str(model)), 13), str(upgraded))
    name = ort.InferenceSession(str(upgraded)).get_inputs()[0].name
    out = tmp / "quantized.onnx"
    quantize_static(
        str(upgraded),
        str(out),
        Reader(name),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=getattr(CalibrationMethod, method),
    )
    return out


def timed(function, *args, **kwargs):
    """``function``'s result and its time: wall ("seconds") and this process's CPU time
    over all its threads ("cpu_seconds": the wall time on a busy machine says little)."""
    wall, cpu = time.monotonic(), time.process_time()
    result = function(*args, **kwargs)
    return result, {
        "seconds": round(time.monotonic() - wall, 1),
        "cpu_seconds": round(time.process_time() - cpu, 1),
    }


def scores(outputs: np.ndarray, reference: np.ndarray, labels: np.ndarray | None) -> dict:
    row = {
        "agreement": float(np.mean(outputs.argmax(1) == reference.argmax(1))),
        "snr_db": snr_db(outputs, reference),
    }
    if labels is not None:
        row["accuracy"] = float(np.mean(outputs.argmax(1) == labels))
    return row


def classification(
    name: str,
    model: Path,
    calib,
    test,
    labels,
    levers: dict,
    calib_int=None,
    test_int=None,
    extra=None,
) -> dict:
    """The ``levers`` rows and every calibration method of both tools; with
    ``test_int``/``extra`` also edgec fed the integer data unchanged (its input quantized
    with the data's own parameters)."""
    reference = float_outputs(model, test)
    result = {"float": {"accuracy": float(np.mean(reference.argmax(1) == labels))}}
    if extra:
        graph = edgec_quantized(model, calib_int, "int8", "percentile", **extra)
        result["edgec int8 percentile, int8 data in"] = scores(
            edgec_outputs(graph, test, test_int), reference, labels
        )
        print(name, "int8 data in", result["edgec int8 percentile, int8 data in"], flush=True)
    settings = {label: ("percentile", extra) for label, extra in levers.items()}
    settings.update({f"edgec int8 {m}": (m, {}) for m in EDGEC_METHODS if m != "percentile"})
    for label, (method, options) in settings.items():
        graph, timing = timed(edgec_quantized, model, calib, "int8", method, **options)
        result[label] = {**scores(edgec_outputs(graph, test), reference, labels), **timing}
        print(name, label, result[label], flush=True)
    for method in ("MinMax", "Entropy", "Percentile"):
        quantized, timing = timed(ort_quantized, model, calib, method)
        result[f"onnxruntime {method}"] = {
            **scores(float_outputs(quantized, test), reference, labels),
            **timing,
        }
        print(name, method, result[f"onnxruntime {method}"], flush=True)
    return result


def autoencoder() -> dict:
    from tflite_micro.python.tflite_micro import runtime

    model = MODELS / "ad_autoencoder" / "ad01_fp32.onnx"
    windows = ad_windows()
    reference = float_outputs(model, windows)
    result = {}
    for mode in ("int8", "auto"):  # the default levers on (none applies to this model)
        for method in ("minmax", "percentile", "mse"):
            graph = edgec_quantized(model, windows, mode, method)
            precision = {}
            for node in graph.nodes:
                if node.outputs[0].quant is not None and node.op_type == "Gemm":
                    precision[node.name] = node.outputs[0].dtype.name
            result[f"edgec {mode} {method}"] = {
                "snr_db": snr_db(edgec_outputs(graph, windows), reference),
                "layers": precision if mode == "auto" else None,
            }
            print("ad", mode, method, result[f"edgec {mode} {method}"]["snr_db"], flush=True)
    tflm = runtime.Interpreter.from_file(str(MODELS / "ad_autoencoder" / "ad01_int8.tflite"))
    qin = tflm.get_input_details(0)["quantization_parameters"]
    qout = tflm.get_output_details(0)["quantization_parameters"]
    outs = []
    for w in windows:
        x = quantize(w, np.float32(qin["scales"][0]), np.int64(qin["zero_points"][0]), np.int8)
        tflm.set_input(x, 0)
        tflm.invoke()
        y = tflm.get_output(0).astype(np.float64)
        outs.append((y - qout["zero_points"][0]) * qout["scales"][0])
    result["TFLite int8 (TFLM)"] = {
        "snr_db": snr_db(np.stack(outs).reshape(len(windows), -1), reference)
    }
    print("ad tflite", result["TFLite int8 (TFLM)"], flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(Path(__file__).with_name("results_ptq.json")))
    args = parser.parse_args()
    x, labels, _ = kws_data()
    kws = classification(
        "kws",
        MODELS / "kws_dscnn" / "kws_ref_model_float32.onnx",
        kws_float(x[:200]),
        kws_float(x[200:]),
        labels[200:],
        LEVERS,
        calib_int=x[:200],
        test_int=x[200:],
        extra={"data_scale": KWS_SCALE, "data_zero_point": KWS_ZERO_POINT},
    )
    images, digits = mnist_data()
    mnist = classification(
        "mnist",
        MODELS / "mnist8" / "model.onnx",
        images[:500],
        images[500:],
        digits[500:],
        {k: LEVERS[k] for k in ("edgec int8 default", "edgec int8 percentile, no levers")},
    )
    results = {
        "kws": kws,
        "mnist8": mnist,
        "ad_autoencoder": autoencoder(),
        "versions": {"onnxruntime": ort.__version__, "onnx": onnx.__version__},
    }
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
