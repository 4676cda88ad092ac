"""Channel pruning on hand-built graphs: the channel groups, the shape rewrites (residual
groups, depthwise pairs, concat offsets, flatten into a Gemm), outputs of the pruned graph
in onnxruntime against the reference executor, and the least-squares re-fit."""

from __future__ import annotations

import numpy as np
import pytest
from onnx_cases import run_ort
from prune_graphs import concat, depthwise, flatten_gemm, residual, samples

from edgec.interp import Interpreter
from edgec.ir import to_onnx
from edgec.passes.channel_groups import channel_groups, prunable_groups
from edgec.passes.channel_prune import ChannelPrune, remove_channels
from edgec.passes.prune_budget import outputs


def shapes(graph, *names):
    found = {n.name: n for n in graph.nodes}
    return [found[n].inputs[1].shape for n in names]


def check_runs_in_onnxruntime(graph, data):
    """The pruned graph exports; onnxruntime and the reference executor agree."""
    graph.validate()
    model = to_onnx(graph)
    interpreter = Interpreter(graph)
    for i in range(3):
        feeds = data.sample(i)
        want = interpreter.run(feeds)[graph.outputs[0].name]
        got = run_ort(model, feeds)[0]
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_residual_add_merges_its_producers_into_one_group():
    groups = {g.key: g for g in channel_groups(residual())}
    merged = groups["conv0+conv1"]
    assert merged.blocked is None
    assert sorted(c.node.name for c in merged.consumers) == ["conv1", "conv2"]
    assert groups["fc"].blocked and "graph output" in groups["fc"].blocked


def test_residual_group_loses_the_same_channels_everywhere():
    g = residual()
    data = samples(g, 24)
    ChannelPrune(data, 0.5).run(g)
    # conv0 and conv1 both lose 4 of 8 outputs; conv1 also its 4 inputs; conv2's inputs
    # follow; conv2's own group (6 channels -> 3) reaches fc through pool and flatten.
    assert shapes(g, "conv0", "conv1", "conv2", "fc") == [
        (4, 3, 3, 3),
        (4, 4, 1, 1),
        (3, 4, 3, 3),
        (4, 3),
    ]
    check_runs_in_onnxruntime(g, data)


def test_depthwise_conv_follows_its_producer():
    g = depthwise()
    groups = prunable_groups(g)
    assert [grp.key for grp in groups] == ["conv0", "pw"]
    assert [n.name for n in groups[0].depthwise] == ["dw"]
    data = samples(g, 24)
    ChannelPrune(data, 0.25).run(g)
    dw = next(n for n in g.nodes if n.name == "dw")
    assert dw.attrs["group"] == 6 and dw.inputs[1].shape == (6, 1, 3, 3)
    assert dw.inputs[2].shape == (6,)
    assert shapes(g, "conv0", "pw", "fc") == [(6, 3, 3, 3), (4, 6, 1, 1), (4, 4)]
    check_runs_in_onnxruntime(g, data)


def test_concat_maps_each_group_to_its_offset():
    g = concat()
    groups = {grp.key: grp for grp in prunable_groups(g)}
    assert [(c.node.name, c.offset) for c in groups["conv_a"].consumers] == [("mix", 0)]
    assert [(c.node.name, c.offset) for c in groups["conv_b"].consumers] == [("mix", 4)]
    mix_before = next(n for n in g.nodes if n.name == "mix").inputs[1].const.copy()
    # conv_b's channels 1 and 4 are mix's input channels 5 and 8.
    remove_channels(g, groups["conv_b"], [1, 4])
    mix = next(n for n in g.nodes if n.name == "mix").inputs[1].const
    np.testing.assert_array_equal(mix, np.delete(mix_before, [5, 8], axis=1))
    assert next(n for n in g.nodes if n.name == "cat").outputs[0].shape == (1, 8, 6, 6)
    data = samples(g, 24)
    ChannelPrune(data, 0.5).run(g)
    # round(0.5 * 5) = 2 of mix's 5 outputs go (Python rounds half to even)
    assert shapes(g, "conv_a", "conv_b", "mix") == [(2, 3, 3, 3), (2, 3, 1, 1), (3, 4, 1, 1)]
    check_runs_in_onnxruntime(g, data)


@pytest.mark.parametrize("reshape", [False, True], ids=["flatten", "reshape"])
def test_flatten_into_gemm_removes_each_channels_spatial_features(reshape):
    g = flatten_gemm(reshape)
    group = next(grp for grp in prunable_groups(g) if grp.key == "conv")
    assert group.consumers[0].node.name == "fc1" and group.consumers[0].block == 9
    fc1_before = next(n for n in g.nodes if n.name == "fc1").inputs[1].const.copy()
    remove_channels(g, group, [2])  # NCHW flatten: channel 2 is features 18..26
    fc1 = next(n for n in g.nodes if n.name == "fc1").inputs[1].const
    np.testing.assert_array_equal(fc1, np.delete(fc1_before, range(18, 27), axis=1))
    if reshape:
        reshape_node = next(n for n in g.nodes if n.op_type == "Reshape")
        assert list(reshape_node.inputs[1].const) == [1, 45]
    data = samples(g, 24)
    check_runs_in_onnxruntime(g, data)


def test_groups_reaching_outputs_or_unknown_ops_are_not_pruned():
    g = flatten_gemm()
    # Softmax over the conv output's channels: the analysis does not know it as a pass-through.
    conv_out = next(n for n in g.nodes if n.name == "conv").outputs[0]
    flatten = next(n for n in g.nodes if n.name == "flatten")
    soft = g.add_value(type(conv_out)("soft", np.float32, conv_out.shape))
    g.add_node("Softmax", [conv_out], [soft], {"axis": 1}, name="softmax", before=flatten)
    g.set_input(flatten, 0, soft)
    group = next(grp for grp in channel_groups(g) if grp.key == "conv")
    assert group.blocked and "Softmax" in group.blocked
    before = shapes(g, "conv")
    ChannelPrune(samples(g, 8), 0.5).run(g)
    assert shapes(g, "conv") == before


def relative_error(graph, reference, data) -> float:
    out, ref = outputs(graph, data), outputs(reference, data)
    return float(np.linalg.norm(out - ref) / np.linalg.norm(ref))


@pytest.mark.parametrize("build", [residual, depthwise, concat, flatten_gemm])
def test_refit_is_closer_to_the_original_than_pruning_alone(build):
    original = build()
    fit, held = samples(original, 64, seed=1), samples(original, 32, seed=2)
    refitted = original.copy()
    pruner = ChannelPrune(fit, 0.5)
    pruner.run(refitted)
    # The same channels removed without re-fitting any consumer.
    plain = original.copy()
    for key, channels in pruner.removed.items():
        group = next(grp for grp in prunable_groups(plain) if grp.key == key)
        remove_channels(plain, group, channels)
    assert relative_error(refitted, original, held) < relative_error(plain, original, held)


def test_budget_zero_changes_nothing_a_large_budget_prunes():
    from edgec.passes.prune_budget import PruneBudget

    g = depthwise()
    data = samples(g, 32)
    zero = PruneBudget(data, 0.0)
    # A ratio-free graph may still be pruned at zero loss; the measured loss stays within 0.
    zero.run(g.copy())
    assert zero.report.measured_loss is not None and zero.report.measured_loss <= 0.0
    big = PruneBudget(data, 100.0)
    pruned = g.copy()
    big.run(pruned)
    assert big.report.macs_after < big.report.macs_before
    assert big.report.sensitivity and big.report.ratios
    check_runs_in_onnxruntime(pruned, data)


def test_budget_on_accuracy_needs_labels_and_enough_samples():
    from edgec.errors import EdgecError
    from edgec.passes.prune_budget import PruneBudget

    g = depthwise()
    with pytest.raises(EdgecError, match="needs labels"):
        PruneBudget(samples(g, 32), 1.0, metric="accuracy")
    with pytest.raises(EdgecError, match="at least 8 calibration samples"):
        PruneBudget(samples(g, 5), 1.0)
    labelled = samples(g, 32)
    labelled.labels = np.arange(32) % 4
    budget = PruneBudget(labelled, 100.0, metric="accuracy")
    budget.run(g)
    assert budget.report.metric == "accuracy" and budget.report.ratios
