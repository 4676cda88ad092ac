"""A bounded subset of the zoo (tests/zoo) through the C backend on this computer.

One export of each architecture (the three exporters in turn), every case of a path in one
host build (``-fsanitize=address,undefined``, ``-Wall -Wextra -Werror``), with the default
optimized kernels of the default target:

- float: outputs within rtol 1e-4, atol 1e-5 of onnxruntime on the exported model;
- int8 (``--quantize int8``, calibrated on 4 other seeded inputs): outputs equal edgec's
  integer reference bit for bit, and the dequantized outputs are within 20 dB SNR of
  onnxruntime's float ones (a coarse guard; bench/zoo.py measures every export at 32
  calibration samples against the issue's 25 dB).

``bench/zoo.py`` runs every (model, export, path) case.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest
from onnx_cases import run_ort

from edgec.compiler import CompileOptions, prepare_graph, quantize_with_options
from edgec.interp import Interpreter
from edgec.ops.quant import quantize
from tests.c_cases import Case, run_cases

ZOO = Path(__file__).resolve().parent / "zoo"
MANIFEST = json.loads((ZOO / "manifest.json").read_text())["models"]
EXPORTS = ("legacy13", "legacy17", "dynamo")
MODELS = [(entry, EXPORTS[i % len(EXPORTS)]) for i, entry in enumerate(MANIFEST)]
SAMPLES, CALIB_SAMPLES = 2, 16
MIN_SNR_DB = 20.0


def model_path(entry: dict, export: str) -> Path:
    return ZOO / "models" / f"{entry['name']}.{export}.onnx"


def inputs(entry: dict, count: int, offset: int) -> np.ndarray:
    rng = np.random.default_rng(zlib.crc32(entry["name"].encode()) + offset)
    return rng.standard_normal((count, *entry["input_shape"])).astype(np.float32)


def test_the_subset_holds_every_architecture_once():
    names = [entry["name"] for entry, _ in MODELS]
    assert len(names) == len(set(names)) == len(MANIFEST) >= 20
    assert {export for _, export in MODELS} == set(EXPORTS)


def test_zoo_float_c_matches_onnxruntime(tmp_path):
    cases = []
    for index, (entry, export) in enumerate(MODELS):
        path = model_path(entry, export)
        case = Case(prepare_graph(path, CompileOptions()), index)
        for x in inputs(entry, SAMPLES, 10):
            case.samples.append([x])
            case.expected.append(run_ort(path, {"input": x}))
        cases.append(case)
    run_cases(cases, tmp_path, "optimized", tolerance=(1e-4, 1e-5))


def snr_db(reference: list[np.ndarray], noisy: list[np.ndarray]) -> float:
    signal = sum(float(np.sum(r.astype(np.float64) ** 2)) for r in reference)
    noise = sum(float(np.sum((r.astype(np.float64) - n) ** 2)) for r, n in zip(reference, noisy))
    return 10 * np.log10(signal / noise) if noise else float("inf")


def test_zoo_int8_c_is_bit_exact_and_close_to_float(tmp_path):
    cases, snrs = [], {}
    for index, (entry, export) in enumerate(MODELS):
        path = model_path(entry, export)
        calib = tmp_path / f"calib_{index}.npz"
        np.savez(calib, input=inputs(entry, CALIB_SAMPLES, 20))
        options = CompileOptions(quantize="int8", calib=str(calib), calib_method="minmax")
        graph, _ = quantize_with_options(prepare_graph(path, CompileOptions()), options)
        interp, x_value = Interpreter(graph), graph.inputs[0]
        case, want, got = Case(graph, index), [], []
        for x in inputs(entry, SAMPLES, 10):
            q = x_value.quant  # None: a float input quantized inside the graph
            sample = x if q is None else quantize(x, q.scale, q.zero_point, x_value.dtype)
            out = interp.run({x_value.name: sample})[graph.outputs[0].name]
            case.samples.append([sample])
            case.expected.append([out])
            (y,) = run_ort(path, {"input": x})
            if graph.outputs[0].quant is not None:  # not a class index (ArgMax)
                p = graph.outputs[0].quant
                got.append((out.astype(np.float64) - p.zero_point) * float(p.scale))
                want.append(y)
        if want:
            snrs[entry["name"]] = snr_db(want, got)
        cases.append(case)
    low = {name: round(db, 1) for name, db in snrs.items() if db < MIN_SNR_DB}
    assert not low, f"int8 SNR below {MIN_SNR_DB} dB: {low}"
    run_cases(cases, tmp_path, "optimized")


@pytest.mark.parametrize("entry,export", MODELS, ids=[e["name"] for e, _ in MODELS])
def test_analyze_says_every_layer_runs(entry, export):
    """What the two builds above show, analyze predicts: no layer refused on either path."""
    import edgec

    result = edgec.analyze(model_path(entry, export))
    refused = {
        (row.name, path): verdict
        for row in result.rows
        for path, verdict in row.support.items()
        if path != "tvm" and verdict.startswith("no")
    }
    assert not refused
