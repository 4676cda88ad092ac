"""The C backend: lowering, arena planning, rendering and building of generated C."""

from edgec.backends.c.generate import GeneratedC, generate_c

__all__ = ["GeneratedC", "generate_c"]
