"""edgec: ONNX models to microcontrollers and ARM Linux boards, validated on the device.

The public API is importable from here; names load lazily so that ``import edgec`` (and
``edgec --version``) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from edgec.version import __version__

# Public name → the module that defines it.
_EXPORTS = {
    "Analysis": "edgec.analysis",
    "analyze": "edgec.support",
    "Graph": "edgec.ir.graph",
    "Node": "edgec.ir.graph",
    "Value": "edgec.ir.graph",
    "load_model": "edgec.frontend.onnx_import",
    "save_onnx": "edgec.ir.onnx_export",
    "to_onnx": "edgec.ir.onnx_export",
    "Interpreter": "edgec.interp",
    "CompileOptions": "edgec.compiler",
    "CompileResult": "edgec.compiler",
    "compile_model": "edgec.compiler",
    "ValidateOptions": "edgec.harness.validate",
    "validate": "edgec.harness.validate",
    "load_dataset": "edgec.data",
    "load_target": "edgec.targets",
    "build_firmware": "edgec.firmware",
    "EdgecError": "edgec.errors",
    "ModelError": "edgec.errors",
    "UnsupportedOpError": "edgec.errors",
    "ShapeError": "edgec.errors",
    "PassError": "edgec.errors",
    "QuantizationError": "edgec.errors",
    "TargetError": "edgec.errors",
    "BuildError": "edgec.errors",
    "LinkError": "edgec.errors",
    "DeviceError": "edgec.errors",
    "ValidationError": "edgec.errors",
    "ChannelPrune": "edgec.passes.channel_prune",
    "PruneBudget": "edgec.passes.prune_budget",
    "LowRank": "edgec.passes.lowrank",
    "templates_dir": "edgec.resources",
    "targets_dir": "edgec.resources",
}

__all__ = [
    "Analysis",
    "BuildError",
    "ChannelPrune",
    "CompileOptions",
    "CompileResult",
    "DeviceError",
    "EdgecError",
    "Graph",
    "Interpreter",
    "LinkError",
    "LowRank",
    "ModelError",
    "Node",
    "PassError",
    "PruneBudget",
    "QuantizationError",
    "ShapeError",
    "TargetError",
    "UnsupportedOpError",
    "ValidateOptions",
    "ValidationError",
    "Value",
    "__version__",
    "analyze",
    "build_firmware",
    "compile_model",
    "load_dataset",
    "load_model",
    "load_target",
    "save_onnx",
    "targets_dir",
    "templates_dir",
    "to_onnx",
    "validate",
]

if TYPE_CHECKING:
    from edgec.analysis import Analysis, analyze
    from edgec.compiler import CompileOptions, CompileResult, compile_model
    from edgec.data import load_dataset
    from edgec.errors import (
        BuildError,
        DeviceError,
        EdgecError,
        LinkError,
        ModelError,
        PassError,
        QuantizationError,
        ShapeError,
        TargetError,
        UnsupportedOpError,
        ValidationError,
    )
    from edgec.firmware import build_firmware
    from edgec.frontend.onnx_import import load_model
    from edgec.harness.validate import ValidateOptions, validate
    from edgec.interp import Interpreter
    from edgec.ir.graph import Graph, Node, Value
    from edgec.ir.onnx_export import save_onnx, to_onnx
    from edgec.passes.channel_prune import ChannelPrune
    from edgec.passes.lowrank import LowRank
    from edgec.passes.prune_budget import PruneBudget
    from edgec.resources import targets_dir, templates_dir
    from edgec.targets import load_target


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'edgec' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
