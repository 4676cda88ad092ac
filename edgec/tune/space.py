"""The options ``edgec tune`` explores: each dimension a CompileOptions field and its values.

A dimension whose field CompileOptions does not have (an older or newer edgec) is left out,
so the space follows what the compiler offers. Candidates are the product of the dimensions,
ordered: the plain int8 build first, the most compressing corner second, then a seeded
shuffle of the rest, so that any ``--max-candidates`` takes both extremes and a spread.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from dataclasses import dataclass, fields

from edgec.options import CompileOptions


@dataclass(frozen=True)
class Dimension:
    field: str
    values: tuple  # the first value is the plain build's


DIMENSIONS = (
    Dimension("quantize", ("int8", "auto", "int16x8")),
    Dimension("prune_budget", (None, 1.0, 3.0)),
    Dimension("cluster", (None, "16")),
    Dimension("kernel_scratch", ("always", "free")),
    Dimension("weight_storage", ("auto", "dense")),
    Dimension("weight_bits", (8, 4)),
    Dimension("memory", ("balanced", "fast", "min")),
)
# The values that save the most flash and RAM, for the second candidate.
SMALLEST = {
    "quantize": "int8",
    "prune_budget": 3.0,
    "cluster": None,  # 4-bit weights below take fewer bytes than clustered int8 ones
    "kernel_scratch": "free",
    "weight_storage": "auto",
    "weight_bits": 4,
    "memory": "min",
}
SEED = 20261207


@dataclass(frozen=True)
class Candidate:
    """One option set (only the tuned fields; the rest are CompileOptions' defaults)."""

    options: tuple[tuple[str, object], ...]

    @property
    def as_dict(self) -> dict:
        return dict(self.options)

    def key(self, context: dict) -> str:
        """A hash of the options and everything else the result depends on (cache key)."""
        text = json.dumps({"options": self.as_dict, **context}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def describe(self) -> str:
        plain = {d.field: d.values[0] for d in dimensions()}
        changed = [f"{k}={v}" for k, v in self.options if plain.get(k) != v and k != "quantize"]
        return " ".join([str(self.as_dict.get("quantize")), *changed])


def dimensions() -> list[Dimension]:
    known = {f.name for f in fields(CompileOptions)}
    return [d for d in DIMENSIONS if d.field in known]


def valid(options: dict) -> bool:
    """Combinations the compiler refuses or that cannot be told apart: clustering needs int8
    weight layers to cluster (16x8 keeps every layer's weights for its own kernels, ``auto``
    may too, 4-bit weights are clustered already)."""
    if not options.get("cluster"):
        return True
    return options.get("quantize") == "int8" and str(options.get("weight_bits", 8)) == "8"


def candidates(limit: int) -> list[Candidate]:
    dims = dimensions()
    every = [
        Candidate(tuple(zip([d.field for d in dims], values)))
        for values in itertools.product(*(d.values for d in dims))
    ]
    every = [c for c in every if valid(c.as_dict)]
    plain = every[0]
    smallest = Candidate(tuple((d.field, SMALLEST.get(d.field, d.values[0])) for d in dims))
    rest = [c for c in every if c not in (plain, smallest)]
    random.Random(SEED).shuffle(rest)
    ordered = [plain, smallest, *rest]
    return ordered[: max(limit, 1)]
