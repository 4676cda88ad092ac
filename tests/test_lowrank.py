"""Low-rank factorization: ranks, where it applies, the least-squares correction, and the
factored graph in onnxruntime against the reference executor."""

from __future__ import annotations

import numpy as np
import pytest
from onnx_cases import run_ort
from prune_graphs import Builder, correlated_samples, samples
from prune_graphs import mlp_graph as mlp

from edgec.analysis import analyze_graph
from edgec.errors import EdgecError
from edgec.interp import Interpreter
from edgec.ir import to_onnx
from edgec.passes.lowrank import LowRank, choose_rank
from edgec.passes.prune_budget import outputs


def conv1x1():
    b = Builder("conv1x1", (1, 32, 4, 4))
    a = b.conv(b.x, 40, 1, name="pw1")
    return b.done(b.conv(a, 8, 3, name="conv3"))


def test_energy_picks_the_smallest_rank_keeping_it():
    s = np.array([3.0, 2.0, 1.0, 0.1])
    share = np.cumsum(s**2) / np.sum(s**2)
    for energy in (0.5, share[1], 0.99, 1.0):
        r = choose_rank(s, energy, None)
        assert share[r - 1] >= energy - 1e-9 and (r == 1 or share[r - 2] < energy)
    assert choose_rank(s, None, 2) == 2


def test_factorization_splits_only_where_it_pays():
    g = mlp()
    data = samples(g, 64)
    p = LowRank(data, energy=0.999)
    p.run(g)
    # fc1 (40x48, rank ~6) splits; fc2 (5x40) cannot pay: r*(40+5) < 200 only for r < 5.
    assert [f.name for f in p.factored] == ["fc1"]
    assert p.factored[0].rank < 10
    ops = [(n.op_type, n.name) for n in g.nodes]
    assert ops == [("Gemm", "fc1_lowrank"), ("Gemm", "fc1"), ("Gemm", "fc2")]
    fc1 = next(n for n in g.nodes if n.name == "fc1")
    assert fc1.fused is not None and fc1.fused.op_type == "Relu"
    assert analyze_graph(g).totals.params < analyze_graph(mlp()).totals.params


@pytest.mark.parametrize("build", [mlp, conv1x1])
def test_factored_graph_runs_in_onnxruntime_like_the_reference(build):
    g = build()
    data = samples(g, 32)
    LowRank(data, rank=3).run(g)
    g.validate()
    model = to_onnx(g)
    interpreter = Interpreter(g)
    for i in range(3):
        feeds = data.sample(i)
        want = interpreter.run(feeds)[g.outputs[0].name]
        np.testing.assert_allclose(run_ort(model, feeds)[0], want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("build", [mlp, conv1x1])
def test_least_squares_correction_beats_plain_svd(build):
    original = build()
    fit = correlated_samples(original, 128, seed=1)
    held = correlated_samples(original, 64, seed=2)
    plain, corrected = original.copy(), original.copy()
    LowRank(None, rank=2).run(plain)
    LowRank(fit, rank=2).run(corrected)
    ref = outputs(original, held)

    def error(graph):
        return np.linalg.norm(outputs(graph, held) - ref) / np.linalg.norm(ref)

    assert error(corrected) < error(plain)


def test_bad_specs_are_clear_errors():
    with pytest.raises(EdgecError, match="exactly one"):
        LowRank(None)
    with pytest.raises(EdgecError, match="energy"):
        LowRank(None, energy=1.5)
    with pytest.raises(EdgecError, match="rank"):
        LowRank(None, rank=0)
