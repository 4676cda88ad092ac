"""What the ``edgec`` subcommands share: the usage error, ``--input-shape`` parsing, the
options that say how to read sample data, and printable text."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from edgec.errors import EdgecError, show_name


class UsageError(EdgecError):
    """An argument is malformed (reported like any other error, with exit status 2)."""

    exit_code = 2


def parse_input_shapes(specs: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """``["x=1,3,32,32", …]`` → ``{"x": (1, 3, 32, 32)}``; ``UsageError`` if malformed."""
    shapes: dict[str, tuple[int, ...]] = {}
    for spec in specs:
        name, sep, dims_text = spec.rpartition("=")
        expected = "expected NAME=D0,D1,… with positive integer dims"
        if not sep or not name:
            raise UsageError(f"--input-shape {show_name(spec)}: {expected}")
        try:
            dims = tuple(int(d) for d in dims_text.split(","))
        except ValueError:
            raise UsageError(f"--input-shape {show_name(spec)}: {expected}") from None
        if any(d <= 0 for d in dims):
            raise UsageError(f"--input-shape {show_name(spec)}: {expected}")
        if name in shapes:
            raise UsageError(f"--input-shape gives input {show_name(name)} twice")
        shapes[name] = dims
    return shapes


def split_shapes(items: list[str]) -> tuple[list[str], tuple[int, ...] | None]:
    """``--input-shape`` items: ``NAME=dims`` fix model inputs; a bare ``dims`` is the data's."""
    named = [i for i in items if "=" in i]
    bare = [i for i in items if "=" not in i]
    if len(bare) > 1:
        raise UsageError("--input-shape without NAME= (the sample shape) may be given once")
    if not bare:
        return named, None
    try:
        dims = tuple(int(d) for d in bare[0].split(","))
    except ValueError:
        raise UsageError(f"--input-shape {bare[0]!r}: expected D0,D1,…") from None
    return named, dims


def add_data_options(parser: argparse.ArgumentParser, what: str) -> None:
    group = parser.add_argument_group(f"reading {what} data")
    group.add_argument(
        "--input-dtype", help="dtype of raw .bin samples (default: the model input's)"
    )
    group.add_argument(
        "--input-shape",
        action="append",
        default=[],
        metavar="[NAME=]D0,D1,…",
        help="D0,D1,…: shape of one raw .bin sample (default: the model input's); "
        "NAME=D0,D1,…: fix a symbolic dim of model input NAME (compile; repeatable)",
    )
    group.add_argument(
        "--data-scale",
        type=float,
        help="scale of integer sample data (dequantized for float inputs)",
    )
    group.add_argument(
        "--data-zero-point", type=int, default=0, help="zero point of integer sample data"
    )


def one_line(text: str) -> str:
    return printable(" ".join(text.split()))


def printable(text: str) -> str:
    """Text safe to print on one line: control characters escaped."""
    return text if text.isprintable() else repr(text)[1:-1]
