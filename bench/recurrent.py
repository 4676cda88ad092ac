"""LSTM and GRU (issue 14): every recurrent zoo model in every export, float and int8, on the
host and on the emulated boards, and a stateful KWS LSTM fed frame by frame.

    python bench/recurrent.py [--out bench/results_recurrent.json] [--samples 1000]
                              [--device-samples 5] [--models kws_lstm,...]
                              [--no-stateful] [--update]

For each model of tests/zoo (kws_lstm, kws_gru, kws_bilstm, imu_gru) and each export
(legacy13, legacy17, dynamo), on seeded standard-normal inputs (the zoo models' input):

- float: the default C build on the host (AddressSanitizer, UBSan) against onnxruntime on
  the source model, every sample within rtol/atol 1e-4;
- int8: quantized with 256 calibration samples (``--quantize int8``, the default percentile
  calibration); the host build (sanitizers) against the integer reference bit for bit, then
  its outputs against the float model: SNR and top-1 agreement over ``--samples`` inputs,
  beside the agreement of the float outputs merely rounded to the int8 model's output grid
  (the bound the int8 outputs' resolution sets) and of ``--quantize auto`` (layers under its
  SQNR threshold in 16x8) in the integer reference executor;
- on mps2-an386 (Cortex-M4F) and mps3-an547 (Cortex-M55), float and int8 default builds
  (the optimized kernels: the int8 gate products on fast_matrix.c's DSP/Helium kernel, the
  float ones on fast_f32_gemm.c): bit-exact count (int8) or largest |error| against
  onnxruntime (float) over ``--device-samples``, instructions per inference (QEMU
  ``-icount``) and per MAC, the recurrent step's own count (``--profile``) and its gate
  product kernel, flash and arena;
- kws_lstm compiled ``--stateful --stream-steps 1`` (quantized on whole sequences), run one
  frame per call on mps2-an386: its last frame's output against the whole-sequence model's.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from edgec.backends.c.build import build_host, run_host
from edgec.backends.c.render import render_host_runner
from edgec.compiler import CompileOptions, compile_model, prepare_graph
from edgec.harness.validate import ValidateOptions, validate
from edgec.interp import Interpreter, quantized_feeds
from edgec.metrics import agreement, snr_db

ROOT = Path(__file__).resolve().parent.parent
ZOO = ROOT / "tests" / "zoo" / "models"
MODELS = ("kws_lstm", "kws_gru", "kws_bilstm", "imu_gru")
EXPORTS = ("legacy13", "legacy17", "dynamo")
BOARDS = ("mps2-an386", "mps3-an547")
CALIBRATION = 256
TOLERANCE = 1e-4
RECURRENT = ("LSTM", "GRU")


def input_shape(path: Path) -> tuple[int, ...]:
    dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    return tuple(d.dim_value for d in dims)


def onnxruntime_outputs(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.stack([session.run(None, {name: sample})[0] for sample in x])


def host_outputs(result, samples: np.ndarray, work: Path) -> np.ndarray:
    runner = work / "host_runner.c"
    runner.write_text(render_host_runner(result.manifest))
    exe = build_host(result.out_dir, runner, work / "host", sanitize=True)
    spec = result.manifest.outputs[0]
    outs = run_host(exe, [[s] for s in samples], [(np.dtype(spec.dtype), tuple(spec.shape))])
    return np.stack([o[0] for o in outs])


def gate_product(out: Path) -> str | None:
    """The matrix kernel the build's recurrent layers run their gate products on."""
    text = (out / "model_weights.c").read_text()
    found = sorted(set(re.findall(r"\.product = (edgec_matrix_\w+)", text)))
    return ", ".join(found) or None


def output_grid_agreement(reference: np.ndarray, scale: float, zero_point: int) -> float:
    """Top-1 agreement of the float outputs rounded to the int8 output grid with themselves."""
    flat = reference.reshape(len(reference), -1)
    grid = (np.clip(np.rint(flat / scale) + zero_point, -128, 127) - zero_point) * scale
    return round(agreement(grid, flat), 4)


def auto_accuracy(path: Path, calib: Path, x: np.ndarray, flat_ref: np.ndarray) -> dict:
    """``--quantize auto`` in the integer reference executor: SNR and top-1 agreement."""
    graph = prepare_graph(path, CompileOptions(quantize="auto", calib=str(calib)))
    interpreter, name, out = Interpreter(graph), graph.inputs[0].name, graph.outputs[0]
    ys = []
    for sample in x:
        y = interpreter.run(quantized_feeds(graph, {name: sample}))[out.name].astype(np.float64)
        ys.append((y - out.quant.zero_point) * out.quant.scale if out.quant else y)
    real = np.stack(ys).reshape(len(x), -1)
    noise = float(np.sum((real - flat_ref) ** 2))
    precision = {n.name: str(n.outputs[0].dtype) for n in graph.nodes if n.op_type in RECURRENT}
    return {
        "snr_db": round(snr_db(float(np.sum(flat_ref**2)), noise), 2),
        "top1_agreement": round(agreement(real, flat_ref), 4),
        "recurrent_precision": precision,
    }


def on_board(out: Path, data: Path, board: str, samples: int) -> dict:
    options = ValidateOptions(data=str(data), device="emulator", profile=True, samples=samples)
    options.progress = False
    report = validate(out, options)
    steps = report["profile"]
    recurrent = [s for s in steps if s["op"] in RECURRENT]
    macs = sum(s["macs"] for s in steps)
    row = {
        "samples": report["samples"],
        "instructions": int(report["instructions"]["median"]),
        "macs": macs,
        "per_mac": round(report["instructions"]["median"] / macs, 3),
        "recurrent_instructions": sum(s["instructions"] for s in recurrent),
        "recurrent_macs": sum(s["macs"] for s in recurrent),
        "recurrent_kernel": recurrent[0]["kernel"] if recurrent else None,
        "gate_product": gate_product(out),
        "flash_bytes": report["memory"]["flash_bytes"],
        "arena_bytes": report["memory"]["arena_bytes"],
        "stack_bytes": report["memory"]["stack_bytes"],
    }
    row["recurrent_per_mac"] = round(row["recurrent_instructions"] / row["recurrent_macs"], 3)
    if report.get("bit_exact") is not None:
        row["bit_exact"] = report["bit_exact"]
    else:
        row["max_abs_error"] = report["max_abs_error"]
    return row


def measure(name: str, export: str, args, work: Path) -> dict:
    path = ZOO / f"{name}.{export}.onnx"
    shape = input_shape(path)
    rng = np.random.default_rng(sum(map(ord, name)))
    calib, x = (
        rng.standard_normal((n, *shape)).astype(np.float32) for n in (CALIBRATION, args.samples)
    )
    np.savez(work / "calib.npz", x=calib)
    np.savez(work / "device.npz", x=x[: args.device_samples])
    reference = onnxruntime_outputs(path, x)
    row: dict = {"input": list(shape)}
    # float on the host
    result = compile_model(path, work / "float", CompileOptions(force=True))
    got = host_outputs(result, x[:64], work)
    close = [np.allclose(g, r, rtol=TOLERANCE, atol=TOLERANCE) for g, r in zip(got, reference)]
    row["float_host"] = {
        "samples": len(close),
        "within_1e-4": int(sum(close)),
        "max_abs_error": float(np.abs(got - reference[: len(got)]).max()),
    }
    # int8 on the host
    options = CompileOptions(quantize="int8", calib=str(work / "calib.npz"), force=True)
    result = compile_model(path, work / "int8", options)
    graph = result.graph
    feeds = [quantized_feeds(graph, {graph.inputs[0].name: s}) for s in x]
    got = host_outputs(result, np.stack([f[graph.inputs[0].name] for f in feeds]), work)
    interpreter = Interpreter(graph)
    exact = sum(
        np.array_equal(g, interpreter.run(f)[graph.outputs[0].name])
        for g, f in zip(got[: args.exact_samples], feeds)
    )
    out = result.manifest.outputs[0]
    real = (got.astype(np.float64) - out.zero_point) * out.scale
    flat_ref = reference.reshape(len(x), -1).astype(np.float64)
    noise = float(np.sum((real.reshape(len(x), -1) - flat_ref) ** 2))
    ties = int(sum((g == g.max()).sum() > 1 for g in got.reshape(len(x), -1)))
    row["int8_host"] = {
        "samples": len(x),
        "bit_exact": f"{exact}/{min(len(x), args.exact_samples)}",
        "snr_db": round(snr_db(float(np.sum(flat_ref**2)), noise), 2),
        "top1_agreement": round(agreement(real.reshape(len(x), -1), flat_ref), 4),
        "int8_output_ties": ties,
        "output_grid_only_agreement": output_grid_agreement(reference, out.scale, out.zero_point),
        "precision": result.reports["quantization"]["precision"],
    }
    row["auto"] = auto_accuracy(path, work / "calib.npz", x, flat_ref)
    # the emulated boards
    for board in BOARDS:
        for kind, options in (
            ("float", CompileOptions(target=board, force=True)),
            (
                "int8",
                CompileOptions(
                    target=board, quantize="int8", calib=str(work / "calib.npz"), force=True
                ),
            ),
        ):
            out_dir = work / f"{kind}_{board}"
            compile_model(path, out_dir, options)
            row[f"{kind}_{board}"] = on_board(
                out_dir, work / "device.npz", board, args.device_samples
            )
    return row


def stateful(args, work: Path) -> dict:
    """kws_lstm frame by frame (stateful, 1 step per call) against the whole sequence."""
    path = ZOO / "kws_lstm.legacy17.onnx"
    rng = np.random.default_rng(14)
    np.savez(work / "calib.npz", x=rng.standard_normal((CALIBRATION, 1, 49, 10)).astype(np.float32))
    x = rng.standard_normal((args.device_samples, 1, 49, 10)).astype(np.float32)
    np.savez(work / "seq.npz", x=x)
    common = {"quantize": "int8", "calib": str(work / "calib.npz"), "force": True}
    whole = compile_model(path, work / "whole", CompileOptions(**common))
    compile_model(path, work / "stream", CompileOptions(stateful=True, stream_steps=1, **common))
    options = ValidateOptions(data=str(work / "seq.npz"), device="emulator", progress=False)
    options.save_outputs = str(work / "stream.npy")
    report = validate(work / "stream", options)
    interpreter = Interpreter(whole.graph)
    wanted = [interpreter.run(quantized_feeds(whole.graph, {"input": s}))["output"] for s in x]
    equal = sum(np.array_equal(g, w) for g, w in zip(np.load(work / "stream.npy"), wanted))
    return {
        "model": "kws_lstm.legacy17",
        "board": "mps2-an386",
        "sequences": len(x),
        "frames_per_sequence": 49,
        "bit_exact_vs_stateful_reference": report["bit_exact"],
        "equal_to_whole_sequence": int(equal),
        "instructions_per_sequence": int(report["instructions"]["median"]),
        "arena_bytes": report["memory"]["arena_bytes"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(Path(__file__).with_name("results_recurrent.json")))
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--exact-samples", type=int, default=200)
    parser.add_argument("--device-samples", type=int, default=5)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument(
        "--no-stateful", action="store_true", help="skip the frame-by-frame KWS LSTM check"
    )
    parser.add_argument(
        "--update",
        action="store_true",
        help="merge into the --out file's results (runs of model subsets in parallel)",
    )
    args = parser.parse_args()
    results: dict = {
        "samples": args.samples,
        "exact_samples": args.exact_samples,
        "device_samples": args.device_samples,
        "calibration": CALIBRATION,
        "models": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            for export in EXPORTS:
                work = Path(tmp) / f"{name}_{export}"
                work.mkdir()
                row = measure(name, export, args, work)
                results["models"].setdefault(name, {})[export] = row
                print(
                    name,
                    export,
                    json.dumps({k: v for k, v in row.items() if k != "input"}),
                    flush=True,
                )
        if not args.no_stateful:
            work = Path(tmp) / "stateful"
            work.mkdir()
            results["stateful"] = stateful(args, work)
            print("stateful", results["stateful"], flush=True)
    out = Path(args.out)
    if args.update and out.is_file():
        previous = json.loads(out.read_text())
        results["models"] = {**previous.get("models", {}), **results["models"]}
        results = {**previous, **results}
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
