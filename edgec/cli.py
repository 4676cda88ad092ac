"""The ``edgec`` command line.

Each subcommand is a ``Subcommand`` in ``SUBCOMMANDS``: a function that adds its arguments
and a function that runs it and returns the exit status. Library code raises ``EdgecError``;
only ``main`` turns errors into one ``edgec: error: …`` line and an exit status.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

from edgec import cli_build as b
from edgec import cli_tune as t
from edgec.cli_common import one_line, parse_input_shapes, printable
from edgec.errors import BuildError, EdgecError
from edgec.version import __version__

log = logging.getLogger("edgec")

EXIT_INTERRUPTED = 130
EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug in edgec, not in what the user gave it


@dataclass(frozen=True)
class Subcommand:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# ---- analyze --------------------------------------------------------------------------------
def configure_analyze(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="the ONNX model file")
    parser.add_argument("--json", action="store_true", help="print the analysis as JSON")
    parser.add_argument(
        "--input-shape",
        action="append",
        default=[],
        metavar="NAME=D0,D1,…",
        help="fix the shape of a model input (repeat for several inputs)",
    )
    parser.add_argument(
        "--no-fold",
        action="store_true",
        help="analyze the graph as imported, without the fold passes",
    )


def run_analyze(args: argparse.Namespace) -> int:
    from edgec.support import analyze

    shapes = parse_input_shapes(args.input_shape)
    result = analyze(args.model, input_shapes=shapes, fold=not args.no_fold)
    for notice in result.notices:
        print(f"edgec: note: {printable(notice)}", file=sys.stderr)
    if args.json:
        print(result.to_json())
    else:
        print_analysis(result)
    return 0


def print_analysis(result, out: TextIO | None = None) -> None:
    """The analysis as a table and totals: rich on a terminal, plain columns otherwise."""
    from rich.console import Console

    console = Console(file=out or sys.stdout, highlight=False)
    header = ["#", "op", "output shape", "params", "MACs", "float C", "int8 C", "TVM", "name"]
    body = [
        [
            str(i),
            printable(row.op),
            ", ".join(_shape_text(s) for s in row.shapes),
            f"{row.params:,}",
            f"{row.macs:,}" if row.macs is not None else "?",
            *_support_cells(row),
            printable(row.name),
        ]
        for i, row in enumerate(result.rows)
    ]
    if console.is_terminal:
        _print_rich_table(console, printable(result.model), header, body)
    else:
        _print_plain_table(console.file, header, body)
    for line in _summary_lines(result):
        print(line, file=console.file)


def _support_cells(row) -> list[str]:
    """Short verdicts per path (the reasons are in the summary and in --json)."""
    if row.support is None:
        return ["?", "?", "?"]
    return [row.support[p].split(":")[0].split(" (")[0] for p in ("float_c", "int8_c", "tvm")]


def _print_rich_table(console, title: str, header: list[str], body: list[list[str]]) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(title), title_justify="left")
    # Every column but the last, the (long, model-supplied) name, keeps its full width;
    # the name gets what is left of the terminal and is cut with an ellipsis.
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    borders = 3 * len(header) + 1
    name_width = max(8, console.width - sum(widths[:-1]) - borders)
    for i, name in enumerate(header):
        last = i == len(header) - 1
        table.add_column(
            name,
            justify="right" if name in ("#", "params", "MACs") else "left",
            no_wrap=True,
            overflow="ellipsis",
            min_width=None if last else widths[i],
            max_width=name_width if last else None,
        )
    for cells in body:
        table.add_row(*(Text(c) for c in cells))  # Text: names never parse as markup
    console.print(table)


def _print_plain_table(out: TextIO, header: list[str], body: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    right = {0, 3, 4}
    for cells in [header, *body]:
        parts = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        parts[-1] = cells[-1]  # the name is last and never padded
        print("  ".join(parts), file=out)


def _summary_lines(result) -> list[str]:
    t = result.totals
    unknown = " (lower bound: some layers are unknown)"
    lines = [""]
    for label, specs in (("inputs", result.inputs), ("outputs", result.outputs)):
        shown = ", ".join(
            f"{printable(s.name)} {s.dtype or '?'} {_shape_text(s.shape)}" for s in specs
        )
        lines.append(f"{label + ':':<19}{shown}")
    lines += [
        f"{'layers:':<19}{len(result.rows)}" + ("" if result.folded else " (not folded)"),
        f"{'parameters:':<19}{t.params:,}",
        f"{'MACs:':<19}{t.macs:,}" + ("" if t.macs_complete else unknown),
        f"{'weights:':<19}{_bytes_text(t.weight_bytes_float32)} at float32, "
        f"{_bytes_text(t.weight_bytes_int8)} at int8",
        f"{'peak activations:':<19}{_bytes_text(t.peak_activation_bytes)} at the model's dtypes, "
        f"{_bytes_text(t.peak_activation_bytes_int8)} at int8"
        + _peak_where(result)
        + ("" if t.activations_complete else unknown),
    ]
    if result.rows and result.rows[0].support is not None:
        from edgec.support import summary

        lines += summary(result, printable)
    for name, problem in result.problems.items():
        lines.append(f"{'cannot take:':<19}{printable(name)}: {printable(problem)}")
    if result.unsupported_ops:
        listed = "; ".join(
            f"{op} ({', '.join(printable(n) for n in names)})"
            for op, names in result.unsupported_ops.items()
        )
        lines.append(f"{'unsupported ops:':<19}{listed}")
    return lines


def _peak_where(result) -> str:
    names = [row.name for row in result.rows]
    if result.totals.peak_at not in names:
        return ""
    index = names.index(result.totals.peak_at)
    return f" (at layer #{index}, {printable(result.rows[index].op)})"


def _shape_text(shape) -> str:
    if shape is None:
        return "?"
    return "x".join(str(d) for d in shape) if shape else "scalar"


def _bytes_text(count: int) -> str:
    return f"{count:,} B ({count / 1024:.1f} KiB)" if count >= 1024 else f"{count:,} B"


# ---- the command table ----------------------------------------------------------------------
def _build_subcommands() -> list[Subcommand]:
    return [
        Subcommand(
            "compile",
            "compile a model to C for a target (optionally quantized)",
            b.configure_compile,
            b.run_compile,
        ),
        Subcommand(
            "validate",
            "run a compiled model on a device and compare every output",
            b.configure_validate,
            b.run_validate,
        ),
        Subcommand(
            "tune",
            "find the most accurate build that fits flash, RAM and time budgets (Ray)",
            t.configure_tune,
            t.run_tune,
        ),
        Subcommand(
            "targets", "list the boards edgec can build for", b.configure_targets, b.run_targets
        ),
        Subcommand(
            "emulator",
            "set up an emulated ARM Linux board (qemu-aarch64) for TVM builds",
            b.configure_emulator,
            b.run_emulator,
        ),
    ]


BUILD_SUBCOMMANDS = _build_subcommands()

SUBCOMMANDS: list[Subcommand] = [
    Subcommand(
        "analyze",
        "per-layer shapes, parameters and MACs; weight and activation memory",
        configure_analyze,
        run_analyze,
    ),
    *BUILD_SUBCOMMANDS,
]


def _verbosity_option(default) -> argparse.ArgumentParser:
    """A parent parser with -v; each parser needs its own (argparse shares action objects)."""
    holder = argparse.ArgumentParser(add_help=False)
    holder.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default,
        help="log progress (-vv for debug output); show tracebacks of internal errors",
    )
    return holder


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgec",
        description="ONNX models to microcontrollers and ARM Linux boards: "
        "optimize, quantize, generate code, validate on the device.",
        parents=[_verbosity_option(0)],
    )
    parser.add_argument("--version", action="version", version=f"edgec {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for sub in SUBCOMMANDS:
        sub_parser = commands.add_parser(
            sub.name,
            help=sub.help,
            description=sub.help,
            # -v also works after the subcommand; SUPPRESS keeps it from resetting a count.
            parents=[_verbosity_option(argparse.SUPPRESS)],
        )
        sub.configure(sub_parser)
        sub_parser.set_defaults(run=sub.run)
    return parser


# ---- entry point ----------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (the console script exits with it)."""
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return args.run(args)
    except EdgecError as exc:
        if args.verbose and isinstance(exc, BuildError) and exc.output:
            print(exc.output.rstrip(), file=sys.stderr)
        print(f"edgec: error: {one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("edgec: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _detach_stdout()  # the reader went away (`edgec … | head`): stop quietly
        return 1
    except Exception as exc:
        if args.verbose:
            traceback.print_exc(file=sys.stderr)
        print(_internal_error_line(exc, bool(args.verbose)), file=sys.stderr)
        return EXIT_INTERNAL


def _internal_error_line(exc: BaseException, verbose: bool) -> str:
    what = one_line(f"{type(exc).__name__}: {exc}")
    hint = "" if verbose else "; rerun with --verbose for the traceback"
    return (
        f"edgec: internal error: {what} (a bug in edgec {__version__}; please report it on "
        f"the edgec issue tracker with the command line and, if you can, the model{hint})"
    )


def _setup_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("edgec: %(levelname)s: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


def _detach_stdout(stream: TextIO | None = None) -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, (stream or sys.stdout).fileno())
    except (OSError, ValueError):
        pass
    finally:
        os.close(devnull)
