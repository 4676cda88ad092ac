"""The exception hierarchy: every error a user can cause is an ``EdgecError``.

The CLI prints ``str(error)`` as one line and exits non-zero, so messages name the
node, the op and (where there is one) the fix. Names that come from a model file are
passed through :func:`show_name` first: they may hold quotes, newlines or control
characters that must not break the one-line message.
"""

from __future__ import annotations

_MAX_NAME = 80


def show_name(name: str | bytes) -> str:
    """Quote a model-supplied name for a one-line message (escaped, truncated)."""
    if isinstance(name, bytes):  # not valid UTF-8 in the model file
        name = name.decode("utf-8", errors="replace")
    text = name if len(name) <= _MAX_NAME else name[: _MAX_NAME - 3] + "..."
    return repr(text)


class EdgecError(Exception):
    """Base class of every error edgec reports to a user."""

    exit_code = 1


class ModelError(EdgecError):
    """The ONNX file is unreadable or structurally invalid."""


class UnsupportedOpError(EdgecError):
    """One or more ops have no implementation; lists every op type and its nodes."""

    def __init__(self, ops: dict[str, list[str]], what: str = "edgec"):
        self.ops = {op: list(names) for op, names in sorted(ops.items())}
        parts = []
        for op, names in self.ops.items():
            shown = ", ".join(show_name(n) for n in names[:3])
            more = f" and {len(names) - 3} more" if len(names) > 3 else ""
            parts.append(f"{op} ({shown}{more})")
        count = len(self.ops)
        super().__init__(
            f"{count} unsupported op type{'s' if count != 1 else ''} for {what}: "
            + "; ".join(parts)
        )


class ShapeError(EdgecError):
    """A shape is unknown, dynamic where it must be static, or inconsistent."""


class QuantizationError(EdgecError):
    """Quantization parameters or calibration data are unusable."""


class TargetError(EdgecError):
    """The target is unknown or the model does not fit it."""


class BuildError(EdgecError):
    """An external compiler failed; ``output`` holds what it printed."""

    def __init__(self, message: str, output: str = ""):
        self.output = output
        super().__init__(message)


class LinkError(EdgecError):
    """The link to the device failed: timeout, bad CRC, lost connection."""


class DeviceError(EdgecError):
    """The device reported a fault or an error status."""


class ValidationError(EdgecError):
    """Validation could not be carried out (data, reference or device mismatch)."""


class PassError(EdgecError):
    """A graph pass failed; names the pass and, where known, the node."""

    def __init__(self, pass_name: str, message: str, node: str | None = None):
        self.pass_name = pass_name
        self.node = node
        where = f" at node {show_name(node)}" if node is not None else ""
        super().__init__(f"pass {pass_name}{where}: {message}")


def node_error(cls: type[EdgecError], node, message: str) -> EdgecError:
    """Build ``cls`` with a message prefixed by the node's op and name."""
    return cls(f"{node.op_type} node {show_name(node.name)}: {message}")
