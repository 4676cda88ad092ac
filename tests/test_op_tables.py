"""Per-op facts live in one place and cannot drift: the float kernels' op codes are emitted by
name from the tables that declare them, and an op's integer kind needs its reference."""

from __future__ import annotations

import re

import pytest

from edgec.backends.c.emit_eltwise import BINARY_OPS, UNARY_OPS
from edgec.backends.c.emit_math import CAST_TYPES
from edgec.backends.c.emit_move import PAD_MODES
from edgec.backends.c.emit_reduce import REDUCE_OPS
from edgec.ops import REGISTRY
from edgec.ops.registry import Op, register
from edgec.resources import templates_dir


def header_enums() -> set[str]:
    text = (templates_dir() / "c" / "kernels" / "edgec_kernels.h").read_text()
    names: set[str] = set()
    for body in re.findall(r"enum\s*\{([^}]*)\}", text):
        names |= {n.strip() for n in body.split(",") if n.strip()}
    return names


def test_every_float_op_code_is_a_kernel_enum_and_every_enum_has_an_op():
    tables = (BINARY_OPS, UNARY_OPS, REDUCE_OPS, CAST_TYPES, PAD_MODES)
    emitted = {s.name for table in tables for s in table.values()}
    declared = {n for n in header_enums() if n.startswith("EDGEC_")}
    assert emitted == declared


def test_every_op_in_the_float_tables_is_registered():
    assert set(BINARY_OPS) | set(UNARY_OPS) | set(REDUCE_OPS) <= set(REGISTRY)


def test_an_arith_op_without_its_integer_reference_is_refused_at_registration():
    class Half(Op):
        op_type = "EdgecTestHalf"
        integer = "arith"

    with pytest.raises(RuntimeError, match="EdgecTestHalf"):
        register(Half)
    assert "EdgecTestHalf" not in REGISTRY


@pytest.mark.parametrize("op_type", sorted(k for k, v in REGISTRY.items() if v.integer == "arith"))
def test_arith_ops_have_their_integer_reference(op_type):
    op = REGISTRY[op_type]
    assert type(op).run_integer is not Op.run_integer
    assert type(op).integer_params is not Op.integer_params
