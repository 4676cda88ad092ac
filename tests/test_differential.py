"""Differential testing of the whole compiler on random CNNs (tests/graph_gen.py).

Every drawn float model goes through edgec's import and fold passes and then four paths:
its float C with the portable and with the optimized kernels (compared with onnxruntime on
the source model, rtol 1e-4 / atol 1e-4), and,
quantized to int8 by edgec's PTQ on random calibration data, its int8 C with the portable
and with the optimized kernels (compared with edgec's integer reference, bit for bit). All
C is built for this computer with AddressSanitizer and UBSan, many models per build. A model
the int8 backend declines (``UnsupportedOpError``) is counted, and must stay rare; any other
error is a failure. ``bench/fuzz.py`` runs the same checks on thousands of graphs.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from edgec.compiler import CompileOptions, prepare_graph, quantize_with_options
from edgec.errors import UnsupportedOpError
from edgec.interp import Interpreter
from tests.c_cases import Case, random_int, run_cases
from tests.conftest import needs_tools
from tests.device_cases import run_cases_on_device
from tests.graph_gen import Picker, random_cnn

PATHS = ("float", "float-optimized", "int8-portable", "int8-optimized")
GRAPHS_PER_BUILD = 25
BUILDS = 8  # per path: 200 graphs
SAMPLES = 3
BATCH = settings(
    max_examples=BUILDS,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],  # a shrink step costs a C build: none
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def float_case(model: onnx.ModelProto, seed: int, work) -> Case:
    graph = prepare_graph(model, CompileOptions())
    rng = np.random.default_rng(seed)
    session = ort.InferenceSession(model.SerializeToString())
    case = Case(graph, seed)
    for _ in range(SAMPLES):
        x = rng.uniform(-2, 2, graph.inputs[0].shape).astype(np.float32)
        case.samples.append([x])
        case.expected.append(session.run(None, {"x": x}))
    return case


def int8_case(model: onnx.ModelProto, seed: int, work) -> Case | None:
    rng = np.random.default_rng(seed)
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    calib = work / f"calib_{seed}.npz"
    np.savez(calib, x=rng.uniform(-2, 2, (16, *shape)).astype(np.float32))
    options = CompileOptions(quantize="int8", calib=str(calib))
    graph, _ = quantize_with_options(prepare_graph(model, CompileOptions()), options)
    case = Case(graph, seed)
    interpreter = Interpreter(graph)
    for _ in range(SAMPLES):
        sample = [random_int(rng, v.shape, v.dtype) for v in graph.inputs]
        out = interpreter.run({v.name: a for v, a in zip(graph.inputs, sample)})
        case.samples.append(sample)
        case.expected.append([out[v.name] for v in graph.outputs])
    return case


def build_cases(path: str, models: list[tuple[onnx.ModelProto, int]], work) -> tuple[list, int]:
    """The cases of one build for ``path``, and how many models the int8 backend declined."""
    cases, declined = [], 0
    for model, seed in models:
        if path.startswith("float"):
            cases.append(float_case(model, seed, work))
            continue
        try:
            cases.append(int8_case(model, seed, work))
        except UnsupportedOpError:
            declined += 1
    return cases, declined


def check_cases(path: str, cases: list, work) -> None:
    """Build and run the cases; an AssertionError names the first case that differs."""
    if path.startswith("float"):
        kernels = "optimized" if path == "float-optimized" else "portable"
        run_cases(cases, work, kernels=kernels, tolerance=(1e-4, 1e-4))
    else:
        run_cases(cases, work, kernels=path.split("-")[1])


@pytest.mark.parametrize("path", PATHS)
@BATCH
@given(data=st.data())
def test_random_cnns_match_the_references(path, data, tmp_path_factory):
    work = tmp_path_factory.mktemp("diff")
    seeds = [data.draw(st.integers(0, 2**32 - 1)) for _ in range(GRAPHS_PER_BUILD)]
    models = [(random_cnn(Picker(data.draw), seed), seed) for seed in seeds]
    cases, declined = build_cases(path, models, work)
    assert declined <= GRAPHS_PER_BUILD // 5, f"{declined} graphs declined by the int8 backend"
    check_cases(path, cases, work)


# Seeded graphs per (board, kernels) run under QEMU: a bounded set, the same in every run.
DEVICE_RUNS = {
    ("riscv32-virt", "optimized"): 25,
    ("microbit", "optimized"): 20,
    ("microbit", "portable"): 8,
}


@needs_tools(
    "qemu-system-arm", "arm-none-eabi-gcc", "qemu-system-riscv32", "riscv64-unknown-elf-gcc"
)
@pytest.mark.parametrize(("target", "kernels"), list(DEVICE_RUNS))
def test_random_cnns_on_the_emulated_rv32_and_m0(target, kernels, tmp_path):
    count = DEVICE_RUNS[(target, kernels)]
    seeds = [7000 + i for i in range(count)]
    models = [(random_cnn(Picker(seed=seed), seed), seed) for seed in seeds]
    cases, declined = build_cases("int8-optimized", models, tmp_path)
    assert declined <= count // 4
    run_cases_on_device(cases, tmp_path, target, kernels=kernels)
