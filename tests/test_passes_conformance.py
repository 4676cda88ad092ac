"""``fold`` over the ONNX backend test cases of the onnx wheel (pytorch-converted,
pytorch-operator, simple): outputs stay equal to the stored ``test_data_set_0`` outputs.

The cases edgec declines by design are left out here; the conformance suite
(tests/test_conformance.py) checks that they fail the way they should.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from onnx_cases import assert_close, case_data, conformance_cases, run_ort
from test_conformance import UNSUPPORTED

from edgec.frontend import load_model
from edgec.interp import Interpreter
from edgec.ir import Graph, to_onnx
from edgec.passes import fold

CASES = [c for c in conformance_cases() if c.name not in UNSUPPORTED]
IDS = [f"{c.parent.name}/{c.name}" for c in CASES]
RTOL, ATOL = 1e-4, 1e-5  # as in tests/test_conformance.py


def folded_case(case: Path) -> tuple[Graph, Graph]:
    """(graph as imported, folded copy)."""
    graph = load_model(case / "model.onnx")
    return graph, fold(graph.copy())


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_fold_keeps_backend_case_outputs_interp(case: Path):
    _, folded = folded_case(case)
    feeds, expected = case_data(case)
    results = Interpreter(folded).run(feeds)
    assert len(folded.outputs) == len(expected)
    for value, want in zip(folded.outputs, expected):
        assert_close(results[value.name], want, RTOL, ATOL, f"{case.name} {value.name}")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_fold_keeps_backend_case_outputs_onnxruntime(case: Path):
    _, folded = folded_case(case)
    feeds, expected = case_data(case)
    results = run_ort(to_onnx(folded), feeds)
    for value, got, want in zip(folded.outputs, results, expected):
        assert_close(got, want, RTOL, ATOL, f"{case.name} {value.name}")
