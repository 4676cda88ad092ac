"""Program → C sources through the Jinja2 templates in ``templates/c``.

Model-derived text only ever appears inside comments, through :func:`c_comment`; every C
identifier is generated (``t3``, ``w12``, ``<prefix>_op4``) or is the validated prefix.
"""

from __future__ import annotations

import math
import re

import numpy as np

from edgec.backends.c.program import KernelCall, Program, Ref, Struct, Symbol
from edgec.errors import EdgecError
from edgec.resources import jinja_environment
from edgec.version import __version__

C_TYPES = {
    np.dtype(np.float32): "float",
    np.dtype(np.int8): "int8_t",
    np.dtype(np.uint8): "uint8_t",
    np.dtype(np.int16): "int16_t",
    np.dtype(np.uint16): "uint16_t",
    np.dtype(np.int32): "int32_t",
    np.dtype(np.uint32): "uint32_t",
    np.dtype(np.int64): "int64_t",
}
_C_KEYWORDS = set(
    [
        "auto",
        "break",
        "case",
        "char",
        "const",
        "continue",
        "default",
        "do",
        "double",
        "else",
        "enum",
        "extern",
        "float",
        "for",
        "goto",
        "if",
        "inline",
        "int",
        "long",
        "register",
        "restrict",
        "return",
        "short",
        "signed",
        "sizeof",
        "static",
        "struct",
        "switch",
        "typedef",
        "union",
        "unsigned",
        "void",
        "volatile",
        "while",
        "_Bool",
        "_Complex",
        "_Imaginary",
    ]
)
_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")


def check_prefix(prefix: str) -> str:
    """The symbol prefix must be a plain C identifier (it is not derived from the model)."""
    if not _PREFIX.match(prefix) or prefix in _C_KEYWORDS or prefix.startswith("edgec"):
        raise EdgecError(
            f"--prefix {prefix!r} must be a C identifier of at most 32 characters "
            "(letters, digits, underscores), not a C keyword and not starting with 'edgec'"
        )
    return prefix


def c_comment(text: str, limit: int = 120) -> str:
    """Make arbitrary text safe inside a one-line /* */ comment."""
    out = []
    for ch in text:
        code = ord(ch)
        out.append(
            ch if 32 <= code < 127 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
        )
    safe = "".join(out).replace("*/", "*_/").replace("/*", "/_*").replace("??", "?_?")
    return safe if len(safe) <= limit else safe[: limit - 3] + "..."


def c_float(value: float) -> str:
    """An exact float literal (hex), or the FLT_MAX bounds for infinities."""
    value = float(np.float32(value))
    if math.isnan(value):
        raise EdgecError("a NaN constant cannot be emitted")
    if math.isinf(value):
        return "FLT_MAX" if value > 0 else "-FLT_MAX"
    if value == 0:
        return "0.0f" if math.copysign(1, value) > 0 else "-0.0f"
    return f"{value.hex()}f"


def c_value(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, (Ref, Symbol)):
        return value.name
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return c_float(value)
    if isinstance(value, Struct):
        return "{" + ", ".join(f".{k} = {c_value(v)}" for k, v in value.fields.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "{" + ", ".join(c_value(v) for v in value) + "}"
    raise EdgecError(f"cannot print {value!r} as C")


def array_body(data: np.ndarray, per_line: int = 12) -> str:
    flat = data.reshape(-1)
    as_text = c_float if data.dtype == np.float32 else (lambda v: str(int(v)))
    if data.dtype == np.uint32:
        as_text = lambda v: f"{int(v)}u"  # noqa: E731 (an unsigned literal past INT32_MAX)
    items = [as_text(v) for v in flat]
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    return ",\n".join("    " + line for line in lines) if lines else "    0"


def render(program: Program, prefix: str, sha256: str, alignment: int = 16) -> dict[str, str]:
    """The generated files of a planned program, by file name."""
    prefix = check_prefix(prefix)
    env = jinja_environment("c")
    buffers = program.buffers
    operands: list[str] = []

    def arg(name: str | None, const: bool) -> str:
        if name is None:  # an absent optional operand
            return "NULL"
        if name in buffers:
            ctype = C_TYPES[buffers[name].dtype]
            return f"({'const ' if const else ''}{ctype} *)(arena + {buffers[name].offset})"
        if name not in operands:
            operands.append(name)
        ctype = C_TYPES[program.weights[name].data.dtype]
        return f"(const {ctype} *){prefix}_operand[{operands.index(name)}]"

    calls = []
    for index, call in enumerate(program.calls):
        out = buffers[call.main_output]
        calls.append(
            {
                "index": index,
                "kernel": call.kernel,
                "struct": call.struct,
                "variadic": call.variadic_inputs,
                "comment": c_comment(f"{call.op} {call.node!r}"),
                "args_in": [arg(n, True) for n in call.inputs],
                "args_out": [arg(n, False) for n in call.outputs],
                "hook_offset": out.offset,
                "hook_bytes": out.nbytes,
                "init": _struct_init(call),
            }
        )
    resets = [
        {
            "kernel": r.kernel,
            "index": r.step,
            "args": [*(arg(n, True) for n in r.inputs), arg(r.state, False)],
        }
        for r in program.resets
    ]
    weights = [
        {
            "name": w.name,
            "ctype": C_TYPES[w.data.dtype],
            "count": max(1, w.data.size),
            "body": array_body(w.data),
            "comment": c_comment(w.comment or w.name),
        }
        for w in program.weights.values()
    ]
    ports = _ports(program, prefix)
    kernel_c = sorted(s for s in program.kernel_sources if s.endswith(".c"))  # headers ship too
    sources = [f"{prefix}.c", f"{prefix}_weights.c", *kernel_c]
    context = {
        "banner": f"Generated by edgec {__version__}",
        "sha256": sha256,
        "prefix": prefix,
        "PREFIX": prefix.upper(),
        "alignment": alignment,
        "arena_bytes": program.arena_bytes,
        "weight_bytes": weight_bytes(program),
        "num_steps": len(program.calls),
        "input_overwrite_step": input_overwrite_step(program),
        "calls": calls,
        "resets": resets,
        "weights": weights,
        "operands": [f"{n}" for n in operands],
        "sources": sources,
        "needs_libm": any(s.endswith("_f32.c") for s in program.kernel_sources),
        **ports,
    }
    files = {
        f"{prefix}.h": env.get_template("model.h.j2").render(context),
        f"{prefix}_internal.h": env.get_template("model_internal.h.j2").render(context),
        f"{prefix}.c": env.get_template("model.c.j2").render(context),
        f"{prefix}_weights.c": env.get_template("weights.c.j2").render(context),
        "CMakeLists.txt": env.get_template("CMakeLists.txt.j2").render(context),
        f"{prefix}.mk": env.get_template("model.mk.j2").render(context),
    }
    files[f"{prefix}_weights.c"] = files[f"{prefix}_weights.c"].replace(
        f'#include "{prefix}_internal.h"',
        f'#include <float.h>\n#include <stddef.h>\n\n#include "{prefix}_internal.h"',
        1,
    )
    return files


def _struct_init(call: KernelCall) -> str:
    if call.struct is None:
        return ""
    lines = [f"    .{key} = {c_value(value)}," for key, value in call.fields.items()]
    return "{\n" + "\n".join(lines) + "\n}"


def _ports(program: Program, prefix: str) -> dict:
    def describe(port, kind: str, index: int) -> dict:
        buf = program.buffers[port.buffer]
        size = math.prod(port.shape)
        return {
            "kind": kind,
            "KIND": kind.upper(),
            "index": index,
            "arg": f"{kind}{index}",
            "ctype": C_TYPES[port.dtype],
            "dtype": str(port.dtype),
            "shape": list(port.shape),
            "size": size,
            "bytes": size * port.dtype.itemsize,
            "offset": buf.offset,
            "scale": port.scale,
            "scale_literal": c_float(port.scale) if port.scale is not None else "",
            "zero_point": port.zero_point,
            "comment": c_comment(port.name),
        }

    inputs = [describe(p, "input", i) for i, p in enumerate(program.inputs)]
    outputs = [describe(p, "output", i) for i, p in enumerate(program.outputs)]
    params = [f"const {p['ctype']} *{p['arg']}" for p in inputs] + [
        f"{p['ctype']} *{p['arg']}" for p in outputs
    ]
    return {
        "inputs": inputs,
        "outputs": outputs,
        "signature": ", ".join(params),
        "call_args": ", ".join(p["arg"] for p in inputs + outputs),
    }


def input_overwrite_step(program: Program) -> int:
    """The first call that writes bytes of an input buffer (its output or scratch lies over
    them), or the number of calls when none does: zero-copy callers learn from it whether
    the inputs survive an inference."""
    regions = [program.buffers[p.buffer] for p in program.inputs]
    regions = [(b.offset, b.offset + b.nbytes) for b in regions if b.nbytes]
    for step, call in enumerate(program.calls):
        for name in filter(None, call.outputs):  # (an optional output left out: None)
            buf = program.buffers[name]
            if any(buf.offset < end and start < buf.offset + buf.nbytes for start, end in regions):
                return step
    return len(program.calls)


def weight_bytes(program: Program) -> int:
    return sum(w.nbytes for w in program.weights.values())


def render_host_runner(manifest) -> str:
    """The C source of the stdin/stdout runner of a compiled folder (``--device host``)."""
    prefix = manifest.prefix

    def ports(specs) -> list[dict]:
        return [
            {"index": i, "ctype": C_TYPES[np.dtype(p.dtype)], "size": math.prod(p.api_shape)}
            for i, p in enumerate(specs)
        ]

    inputs, outputs = ports(manifest.inputs), ports(manifest.outputs)
    call_args = ", ".join(
        [f"input{p['index']}" for p in inputs] + [f"output{p['index']}" for p in outputs]
    )
    return (
        jinja_environment("c")
        .get_template("host_runner.c.j2")
        .render(
            banner="Generated by edgec",
            prefix=prefix,
            PREFIX=prefix.upper(),
            inputs=inputs,
            outputs=outputs,
            call_args=call_args,
            stateful=bool(manifest.stream),
        )
    )
