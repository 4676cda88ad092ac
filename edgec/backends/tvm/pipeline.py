"""The relax pipeline of a TVM build: layout, legalization, fusion, schedules, lowering.

Relax's default CPU pipeline legalizes every op to TOPI's loop nests, fuses, and schedules
nothing. This one keeps relax's passes and adds, in order: NHWC activations for
convolutions (``ConvertLayout``); edgec's kernels for convolutions and fully connected
layers with weights packed in numpy (``legalize.py``); relax's fusion (so bias,
activations, residual adds and requantizations land in the kernel's epilogue); the records
of a MetaSchedule database where one is given (``build_library(database=...)``; no CLI flag
runs a search yet); then ``schedule.py``'s rules for every function still unscheduled; then
relax's own lowering and memory planning.
"""

from __future__ import annotations

from pathlib import Path

from edgec.backends.tvm.cpu import CpuInfo


def fusion_passes(cpu: CpuInfo, float_graph: bool, target) -> list:
    """Layout, legalization and fusion: the module's functions as they get scheduled."""
    from tvm import relax
    from tvm.relax.backend.cpu_generic import pipeline as cpu_generic

    from edgec.backends.tvm.legalize import CONV_LAYOUTS, legalize_map

    passes = [relax.transform.DecomposeOpsForInference()]
    if float_graph:
        # No FoldConstant here: folding relax ops before legalization builds one library per
        # constant (40 s on MobileNetV2); the one after legalization is fast.
        passes.append(relax.transform.ConvertLayout(CONV_LAYOUTS))
    return [
        *passes,
        *cpu_generic.library_dispatch_passes(target),
        relax.transform.LegalizeOps(legalize_map(cpu) if float_graph else None),
        relax.transform.AnnotateTIROpPattern(),
        relax.transform.FoldConstant(),
        relax.transform.FuseOps(),
        relax.transform.FuseTIR(),
        relax.transform.DeadCodeElimination(),
    ]


def build_pipeline(cpu: CpuInfo, float_graph: bool, database: Path | None = None):
    """The ``relax_pipeline`` for ``relax.build``."""
    import tvm
    from tvm import relax
    from tvm.relax.backend.cpu_generic import pipeline as cpu_generic
    from tvm.s_tir import dlight

    from edgec.backends.tvm.schedule import default_rules

    @tvm.transform.module_pass(opt_level=0, name="EdgecPipeline")
    def pipeline(mod, _ctx):
        target = tvm.target.Target.current(allow_none=False)
        passes = fusion_passes(cpu, float_graph, target)
        if database is not None:
            passes.append(relax.transform.MetaScheduleApplyDatabase(str(database)))
        passes.append(dlight.ApplyDefaultSchedule(*default_rules(cpu)))
        passes += cpu_generic.dataflow_lower_passes(target)
        passes += cpu_generic.finalize_passes(target)
        return tvm.transform.Sequential(passes)(mod)

    return pipeline


def fused_module(mod, cpu: CpuInfo, float_graph: bool):
    """``mod`` after fusion, before the schedules: the functions MetaSchedule tunes."""
    import tvm

    target = tvm.target.Target(cpu.llvm)
    with target:
        return tvm.transform.Sequential(fusion_passes(cpu, float_graph, target))(mod)
