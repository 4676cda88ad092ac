"""The ``compile``, ``validate`` and ``targets`` subcommands (registered in ``edgec.cli``)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys

from edgec.artifact import Manifest
from edgec.backends.c.compile import IO_LAYOUTS, KERNEL_CHOICES
from edgec.backends.c.generate import MEMORY_MODES, SCRATCH_POLICIES
from edgec.backends.c.weight_storage import POLICIES
from edgec.backends.tvm.build import QDQ_NUMERICS
from edgec.cli_common import UsageError, add_data_options, parse_input_shapes, split_shapes
from edgec.compiler import BACKENDS, compile_model
from edgec.errors import EdgecError
from edgec.firmware import build_firmware
from edgec.harness.linux_root import setup
from edgec.harness.validate import (
    FLOAT_ATOL,
    FLOAT_RTOL,
    ValidateOptions,
    default_device,
    failure,
    validate,
)
from edgec.ops.integer.common import ROUNDINGS
from edgec.ops.integer.int4 import WEIGHT_BITS
from edgec.options import QUANTIZE_MODES, CompileOptions
from edgec.passes.prune_budget import METRICS
from edgec.quantize.observers import METHODS
from edgec.quantize.rounding import ROUNDINGS as ROUNDINGS_W
from edgec.reports.compression import summary_lines
from edgec.targets import DEFAULT_TARGET, list_targets


# ---- compile ----------------------------------------------------------------------------------
def configure_compile(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="the ONNX model file")
    parser.add_argument("-o", "--out", required=True, metavar="OUT", help="output folder")
    parser.add_argument(
        "--backend",
        default="c",
        choices=list(BACKENDS),
        help="c: generated C for microcontrollers (default); tvm: a TVM library and runner for "
        "ARM Linux boards",
    )
    parser.add_argument(
        "--target",
        help="board from `edgec targets` (default mps2-an386; aarch64-linux with --backend tvm)",
    )
    parser.add_argument("--prefix", default="model", help="C symbol prefix (default model)")
    parser.add_argument(
        "--quantize",
        default="none",
        choices=QUANTIZE_MODES,
        help="post-training quantization of a float model",
    )
    parser.add_argument("--calib", metavar="DATA", help="calibration data (.npz or a folder)")
    parser.add_argument(
        "--calib-method",
        default="percentile",
        choices=METHODS,
        help="how activation ranges are chosen (default percentile)",
    )
    parser.add_argument("--calib-samples", type=int, metavar="N", help="use the first N samples")
    parser.add_argument(
        "--float-io", action="store_true", help="keep float inputs and outputs on a quantized model"
    )
    parser.add_argument(
        "--no-bias-correction",
        dest="bias_correction",
        action="store_false",
        help="do not correct biases for the mean weight-rounding error",
    )
    parser.add_argument(
        "--no-input-grid",
        dest="input_grid",
        action="store_false",
        help="quantize float inputs by their range even when the calibration data lies on "
        "an int8 grid (default: that grid, so such inputs lose nothing)",
    )
    parser.add_argument(
        "--range-search",
        default="pooled",
        choices=("pooled", "all", "none"),
        help="int8 ranges chosen among --calib-method's candidates by the error the next "
        "layers see: of the tensors an averaging pool shares (default), of all, or none",
    )
    parser.add_argument(
        "--empirical-bias",
        action="store_true",
        help="re-solve each layer's bias so that its mean pre-activation on the calibration "
        "data matches the float model's (activation errors included)",
    )
    parser.add_argument(
        "--no-float-fallback",
        dest="float_fallback",
        action="store_false",
        help="refuse a quantized model with a layer the backend cannot run in integer "
        "(default: that layer runs in float between dequantize and quantize)",
    )
    parser.add_argument(
        "--sqnr-threshold",
        dest="sqnr_threshold_db",
        type=float,
        default=40.0,
        metavar="DB",
        help="--quantize auto: layers below this int8 SQNR run in 16x8",
    )
    parser.add_argument(
        "--weight-bits",
        default=8,
        type=_weight_bits,
        metavar="4..8|auto",
        help="bits of the int8 / 16x8 layers' weights: 8 (default), 4 (two per byte in flash), "
        "5-7 (int8 codes in a narrower range: the same kernels; with --weight-storage "
        "smallest about a bit less flash per weight per bit), or auto (4 where the "
        "calibration data says the output barely changes)",
    )
    parser.add_argument(
        "--weight-rounding",
        choices=ROUNDINGS_W,
        help="nearest, or optimized: GPTQ-style rounding reconstructed layer by layer on "
        "the calibration data, with cross-layer equalization where it helps (default: "
        "optimized for 4-bit weights, else nearest)",
    )
    parser.add_argument(
        "--rounding",
        default="tflm",
        choices=ROUNDINGS,
        help="requantization rounding: tflm (TFLite Micro, the default), float (onnxruntime's "
        "int8 kernels), litert (LiteRT with XNNPACK)",
    )
    parser.add_argument(
        "--tune-trials",
        type=int,
        default=0,
        metavar="N",
        help="TVM builds for --target host: N trials of TVM's MetaSchedule search (default 0: "
        "edgec's schedules, untuned); the records are kept in OUT/tuning/ and applied again "
        "when OUT is rebuilt",
    )
    parser.add_argument(
        "--io-layout",
        default="declared",
        choices=IO_LAYOUTS,
        help="I/O layout of the generated API (default: the model's)",
    )
    parser.add_argument(
        "--kernels",
        default="auto",
        choices=KERNEL_CHOICES,
        help="int8 kernels: optimized (DSP paths, bit-exact with portable) or portable C "
        "(default auto: optimized where the target core has the DSP extension)",
    )
    parser.add_argument(
        "--kernel-scratch",
        default="always",
        choices=SCRATCH_POLICIES,
        help="im2col rows for the optimized convolutions: always (the default), or only "
        "where they do not grow the arena, with the layers at the peak written in place over "
        "their input where that lowers it (free: the smallest RAM, some convolutions slower)",
    )
    parser.add_argument(
        "--memory",
        default="balanced",
        choices=MEMORY_MODES,
        help="RAM against speed: fast (never trades instructions for RAM), balanced (the "
        "default: at most +10 %% instructions over fast) or min (the least RAM; slower). Every "
        "mode writes layers in place over their input where their kernel runs no slower",
    )
    parser.add_argument(
        "--stateful",
        action="store_true",
        help="keep the LSTM/GRU state in the arena across model_run calls (model_reset() "
        "restarts it): a sequence can arrive in pieces",
    )
    parser.add_argument(
        "--stream-steps",
        type=int,
        metavar="N",
        help="with --stateful: N time steps per model_run call (default the model's sequence "
        "length; calibration still runs whole sequences)",
    )
    parser.add_argument(
        "--firmware",
        action="store_true",
        help="also build the target's firmware image (arm-none-eabi-gcc)",
    )
    parser.add_argument("--force", action="store_true", help="replace OUT if it exists")
    _add_compression_options(parser)
    add_data_options(parser, "calibration")


def _weight_bits(text: str) -> int | str:
    if text == "auto" or text in {str(bits) for bits in WEIGHT_BITS}:
        return text if text == "auto" else int(text)
    raise argparse.ArgumentTypeError(f"expected 4 to 8 or auto, not {text!r}")


def _add_compression_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("compression (re-fitted on --calib)")
    group.add_argument(
        "--prune",
        metavar="SPEC",
        help="channels:RATIO: remove RATIO of the output channels of every prunable layer; "
        "magnitude:SPARSITY[:global]: zero the smallest weights of each Conv/Gemm/MatMul "
        "(per layer, or one threshold over all layers) before quantization",
    )
    group.add_argument(
        "--no-prune-refit",
        dest="prune_refit",
        action="store_false",
        help="magnitude pruning keeps the surviving weights as they are (default: refit them "
        "by least squares to the unpruned model's outputs on the --calib data)",
    )
    group.add_argument(
        "--prune-budget",
        type=float,
        metavar="POINTS",
        help="choose per-layer channel ratios losing at most POINTS of top-1 agreement "
        "(held-out calibration folds)",
    )
    group.add_argument(
        "--prune-metric",
        default="agreement",
        choices=METRICS,
        help="what --prune-budget counts (accuracy needs labels with --calib)",
    )
    group.add_argument(
        "--lowrank", metavar="SPEC", help="energy:E or rank:R: SVD-split Gemm/MatMul/1x1 Conv"
    )
    group.add_argument(
        "--cluster",
        metavar="K[:channel]",
        help="at most K (2-16) distinct int8 weights per layer (or per output channel), "
        "stored as 4-bit indices and a table",
    )
    group.add_argument(
        "--weight-storage",
        default="auto",
        choices=POLICIES,
        help="int8 weight matrices sparse or clustered where that is faster on the target "
        "core and saves flash (auto, the default; compact wherever it saves flash when the "
        "fastest layout does not fit), wherever it saves flash (small), always dense, or "
        "the fewest bytes of every form, Huffman-coded weights included (smallest)",
    )


def run_compile(args: argparse.Namespace) -> int:
    if args.backend != "c" and args.firmware:
        raise EdgecError("--firmware builds microcontroller firmware (--backend c)")
    named, data_shape = split_shapes(args.input_shape)
    # the flags are named after CompileOptions' fields; the data options are shared with
    # validate, which reads samples rather than calibration data
    given = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(CompileOptions)
        if hasattr(args, f.name)
    }
    given.update(
        input_shapes=parse_input_shapes(named), calib_dtype=args.input_dtype, calib_shape=data_shape
    )
    options = CompileOptions(**given)
    result = compile_model(args.model, args.out, options)
    for notice in result.notices:
        print(f"edgec: note: {notice}", file=sys.stderr)
    print(f"wrote {result.out_dir}")
    if args.backend == "tvm":
        m = result.manifest
        print(f"  library  {m.library_bytes:>10,} B ({m.library}, TVM {m.tvm_version})")
        print(f"  target   {m.target} {m.llvm_target}")
        print(f"  weights  {m.weight_bytes:>10,} B")
        numerics = m.numerics if m.numerics != QDQ_NUMERICS else "QDQ: see the note above"
        print(f"  runner   {m.runner} (numerics: {numerics})")
        return 0
    print(f"  arena    {result.arena_bytes:>10,} B")
    print(f"  weights  {result.weight_bytes:>10,} B (flash)")
    _print_compression(result.reports.get("compression"))
    compiled = (result.reports.get("compression") or {}).get("compiled")
    if compiled:
        print("\n".join(summary_lines(compiled)))
    storage = result.manifest.weight_storage or []
    compact = [s for s in storage if s["storage"] != "dense"]
    if compact:
        saved = sum(s["dense_bytes"] - s["stored_bytes"] for s in compact)
        print(
            f"  compact  {len(compact)} of {len(storage)} layers, {saved:,} B saved (memory.json)"
        )
    quant = result.reports.get("quantization")
    if quant and "precision" in quant:
        worst = min(
            (r for r in quant["tensors"] if r["sqnr_db"] is not None),
            key=lambda r: r["sqnr_db"],
            default=None,
        )
        kinds = sorted(set(quant["precision"].values()))
        line = f"  quantized {len(quant['precision'])} layers ({', '.join(kinds)})"
        if worst:
            line += f"; lowest SQNR {worst['sqnr_db']:.1f} dB at {worst['name']!r}"
        print(line + " (quantization.json)")
    _print_fallback((quant or {}).get("float_fallback"))
    if args.firmware:
        fw = build_firmware(result.out_dir, manifest=result.manifest)
        print(
            f"  firmware {fw.elf} ({fw.target}): flash {fw.flash_bytes:,} of "
            f"{fw.flash_capacity:,} B, RAM {fw.ram_bytes:,} of {fw.ram_capacity:,} B"
        )
    return 0


def _print_fallback(rows: list[dict] | None) -> None:
    if not rows:
        return
    layers = f"{len(rows)} layer{'s' if len(rows) != 1 else ''}"
    print(f"  float fallback: {layers} kept in float (quantization.json)")
    for row in rows[:5]:
        print(f"    {row['op']} {row['node']!r}: {row['reason']}")
    if len(rows) > 5:
        print(f"    and {len(rows) - 5} more")


def _print_compression(report: dict | None) -> None:
    for entry in (report or {}).get("passes", []):
        t = entry["totals"]
        print(
            f"  {entry['pass']}: params {t['params'][0]:,} -> {t['params'][1]:,}, "
            f"MACs {t['macs'][0]:,} -> {t['macs'][1]:,}, int8 weights "
            f"{t['weight_bytes_int8'][0]:,} -> {t['weight_bytes_int8'][1]:,} B "
            f"({entry['seconds']:.1f} s; compression.json)"
        )
        budget = entry.get("budget")
        if budget:
            chosen = ", ".join(f"{r:g}" for r in budget["ratios"].values()) or "none"
            print(
                f"    ratios {chosen} on {len(budget['ratios'])} channel groups; held-out "
                f"{budget['metric']} loss {budget['measured_loss']:.2f} of "
                f"{budget['budget']:g} points"
            )


# ---- validate ---------------------------------------------------------------------------------
def configure_validate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", metavar="OUT", help="a folder written by `edgec compile`")
    parser.add_argument("--data", required=True, metavar="DATA", help=".npz or a folder of samples")
    parser.add_argument("--labels", metavar="CSV", help="labels (file,…,label rows)")
    parser.add_argument(
        "--device",
        help="host | emulator | a serial port or URL | ssh://USER@HOST (TVM builds) "
        "(default: emulator for emulated targets, else host)",
    )
    parser.add_argument("--samples", type=int, metavar="N", help="validate the first N samples")
    parser.add_argument(
        "--per-layer",
        action="store_true",
        help="dump every layer on the device and name the first that diverges",
    )
    parser.add_argument("--report", metavar="DIR", help="report folder (default OUT/validation)")
    parser.add_argument("--save-outputs", metavar="FILE.npy", help="write the device outputs")
    parser.add_argument(
        "--sanitize",
        action="store_true",
        help="--device host: build with AddressSanitizer and UBSan",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="count every layer's instructions (QEMU) or cycles once, on the last sample",
    )
    parser.add_argument(
        "--threads",
        type=_positive_int,
        metavar="N",
        help="TVM builds: threads of the runner (default: all cores of the board)",
    )
    parser.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        metavar="N",
        help="validate shards of the samples on N emulators (or host builds) at once, as Ray "
        "tasks; the report is the one a single device gives",
    )
    parser.add_argument(
        "--ray-address",
        metavar="HOST:PORT",
        help="run the --workers on this Ray cluster (`ray start --head`) instead of a local Ray",
    )
    parser.add_argument(
        "--tolerance",
        metavar="RTOL[,ATOL]",
        help=f"float outputs pass within this of onnxruntime on the compiled graph (default "
        f"{FLOAT_RTOL:g},{FLOAT_ATOL:g}; ATOL defaults to {FLOAT_ATOL:g})",
    )
    add_data_options(parser, "sample")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive count, got {text}")
    return value


def parse_tolerance(text: str | None) -> tuple[float, float] | None:
    """``--tolerance RTOL[,ATOL]`` as (rtol, atol)."""
    if text is None:
        return None
    parts = text.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or not all(math.isfinite(v) and v >= 0 for v in values):
        raise UsageError(f"--tolerance {text!r}: expected RTOL[,ATOL], non-negative numbers")
    return values[0], values[1] if len(values) == 2 else FLOAT_ATOL


def run_validate(args: argparse.Namespace) -> int:
    manifest = Manifest.load(args.out)
    named, data_shape = split_shapes(args.input_shape)
    if named:
        raise UsageError("validate takes the model's shapes from OUT; give --input-shape D0,D1,…")
    device = args.device or default_device(manifest)
    options = ValidateOptions(
        data=args.data,
        labels=args.labels,
        device=device,
        samples=args.samples,
        per_layer=args.per_layer,
        report_dir=args.report,
        save_outputs=args.save_outputs,
        input_dtype=args.input_dtype,
        input_shape=data_shape,
        data_scale=args.data_scale,
        data_zero_point=args.data_zero_point,
        sanitize=args.sanitize,
        profile=args.profile,
        threads=args.threads,
        workers=args.workers,
        ray_address=args.ray_address,
        tolerance=parse_tolerance(args.tolerance),
    )
    report = validate(args.out, options)
    print_report(report)
    reason = failure(report, manifest)
    if reason is not None:
        print(f"edgec: validation failed: {reason}", file=sys.stderr)
        return 1
    return 0


def _fmt(value, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isinf(value):
            return "exact" if value > 0 else "-inf"
        return f"{value:.{digits}g}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def print_report(report: dict) -> None:
    rows = [
        ("samples", report["samples"]),
        ("device", report.get("device")),
        ("target", report.get("target")),
    ]
    if report.get("bit_exact") is not None:
        rows.append(("bit-exact vs reference", f"{report['bit_exact']}/{report['samples']}"))
    accuracy = report.get("accuracy") or {}
    for key in ("device", "float"):
        if key in accuracy:
            rows.append((f"accuracy ({key})", f"{100 * accuracy[key]:.2f} %"))
    if "agreement" in report:
        rows.append(("top-1 agreement vs float", f"{100 * report['agreement']:.2f} %"))
    for key, label in (
        ("snr_db", "SNR vs float (dB)"),
        ("max_abs_error", "max |error| vs float"),
        ("cosine", "cosine vs float"),
    ):
        if key in report:
            rows.append((label, _fmt(report[key])))
    for unit in ("instructions", "cycles"):
        if unit in report:
            s = report[unit]
            rows.append(
                (
                    f"{unit} / inference",
                    f"{_fmt(int(s['median']))} (min {_fmt(int(s['min']))}, "
                    f"max {_fmt(int(s['max']))})",
                )
            )
    if "nanoseconds" in report:
        s = report["nanoseconds"]
        rows.append(
            (
                "latency / inference",
                f"{s['median'] / 1e6:.3f} ms (min {s['min'] / 1e6:.3f}, max {s['max'] / 1e6:.3f})",
            )
        )
        rows.append(("latency measured", report.get("timing", "wall-clock")))
        if "threads" in report:
            rows.append(("threads", str(report["threads"])))
    for key, what in (
        ("vs_float_tolerance", "float"),
        ("vs_graph_tolerance", "its graph"),
        ("vs_reference_tolerance", "the reference"),
    ):
        tolerance = report.get(key)
        if tolerance:
            rows.append(
                (
                    f"within rtol {tolerance['rtol']:g}, atol {tolerance['atol']:g} of {what}",
                    f"{tolerance['samples_within']}/{report['samples']}",
                )
            )
    if "max_lsb_vs_reference" in report:
        rows.append(("max |error| vs reference (LSB)", report["max_lsb_vs_reference"]))
    if "max_lsb_vs_qdq_onnxruntime" in report:
        rows.append(("max |error| vs QDQ onnxruntime (LSB)", report["max_lsb_vs_qdq_onnxruntime"]))
    memory = report.get("memory", {})
    for key in ("flash_bytes", "arena_bytes", "stack_bytes", "firmware_ram_bytes"):
        if memory.get(key) is not None:
            rows.append((key.replace("_", " "), f"{memory[key]:,} B"))
    profile = report.get("profile") or []
    unit = next((u for u in ("instructions", "cycles") if profile and u in profile[0]), None)
    for row in sorted(profile, key=lambda r: -r[unit])[:3] if unit else []:
        per_mac = f", {row['per_mac']:.2f}/MAC" if row["per_mac"] else ""
        rows.append(
            (
                f"step {row['step']} ({row['op']})",
                f"{_fmt(row[unit])} {unit}{per_mac}, {row['kernel']}",
            )
        )
    if report.get("first_divergent_layer"):
        rows.append(("first divergent layer", report["first_divergent_layer"]))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {_fmt(value) if not isinstance(value, str) else value}")


# ---- targets ----------------------------------------------------------------------------------
def configure_targets(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the targets as JSON")


def run_targets(args: argparse.Namespace) -> int:
    targets = list_targets()
    if not targets:
        raise EdgecError("no targets found")
    if args.json:
        print(json.dumps([dataclasses.asdict(t) for t in targets], indent=2, default=str))
        return 0
    for t in targets:
        mark = "*" if t.name == DEFAULT_TARGET else " "
        print(f"{mark} {t.summary()}")
    print("(* = default target)")
    return 0


# ---- emulator ---------------------------------------------------------------------------------
def configure_emulator(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    setup = actions.add_parser(
        "setup",
        help="prepare (once, cached) a Debian root with Python, numpy and the TVM runtime",
        description="Prepare, once, the Debian arm64 root that qemu-aarch64 runs TVM builds in "
        "(debootstrap, numpy, the aarch64 TVM runtime wheels), cached under ~/.cache/edgec.",
    )
    setup.add_argument("name", choices=["aarch64"], help="the emulated architecture")
    setup.add_argument("--mirror", help="Debian mirror (default: the one apt uses)")
    setup.add_argument("--force", action="store_true", help="make it again even if present")


def run_emulator(args: argparse.Namespace) -> int:
    root, made = setup(args.name, mirror=args.mirror, force=args.force)
    stamp = root.stamp
    if made:
        print(
            f"set up {root.folder} in {stamp['seconds']:.0f} s "
            f"({stamp['bytes'] / 1e9:.2f} GB): Debian {stamp['suite']} arm64, {stamp['python']}, "
            f"TVM runtime {stamp['tvm']['apache-tvm']}"
        )
    else:
        print(f"already set up: {root.folder} (TVM runtime {stamp['tvm']['apache-tvm']})")
    return 0
