"""The ``tune`` subcommand (registered in ``edgec.cli``)."""

from __future__ import annotations

import argparse
import sys

from edgec.cli_common import UsageError, add_data_options, split_shapes
from edgec.tune import TuneOptions, tune
from edgec.tune.search import METRICS


def configure_tune(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="the float ONNX model")
    parser.add_argument("-o", "--out", required=True, metavar="OUT", help="output folder")
    parser.add_argument("--calib", required=True, metavar="DATA", help="calibration data")
    parser.add_argument("--data", required=True, metavar="DATA", help="validation data")
    parser.add_argument("--labels", metavar="CSV", help="labels of DATA (file,…,label rows)")
    parser.add_argument("--target", help="board from `edgec targets` (default mps2-an386)")
    parser.add_argument("--flash", type=int, metavar="BYTES", help="flash budget (firmware)")
    parser.add_argument("--ram", type=int, metavar="BYTES", help="RAM budget (arena + stack)")
    parser.add_argument(
        "--instructions", type=int, metavar="N", help="budget of instructions per inference"
    )
    parser.add_argument(
        "--metric",
        choices=METRICS,
        help="what the best build maximizes (default: accuracy with labels, else agreement)",
    )
    parser.add_argument(
        "--max-candidates", type=int, default=16, metavar="N", help="option sets tried (16)"
    )
    parser.add_argument(
        "--subset",
        type=int,
        default=50,
        metavar="N",
        help="samples of the first stage, which ranks every candidate (50)",
    )
    parser.add_argument(
        "--samples", type=int, metavar="N", help="validate on the first N samples of DATA"
    )
    parser.add_argument(
        "--workers", type=int, default=2, metavar="N", help="local Ray CPUs (default 2)"
    )
    parser.add_argument(
        "--ray-address", metavar="HOST:PORT", help="a Ray cluster (`ray start --head`)"
    )
    add_data_options(parser, "calibration and validation")


def run_tune(args: argparse.Namespace) -> int:
    named, data_shape = split_shapes(args.input_shape)
    if named:
        raise UsageError("tune reads the model's shapes; give --input-shape D0,D1,… for samples")
    options = TuneOptions(
        calib=args.calib,
        data=args.data,
        labels=args.labels,
        target=args.target,
        flash=args.flash,
        ram=args.ram,
        instructions=args.instructions,
        metric=args.metric,
        max_candidates=args.max_candidates,
        subset=args.subset,
        samples=args.samples,
        workers=args.workers,
        ray_address=args.ray_address,
        input_dtype=args.input_dtype,
        input_shape=data_shape,
        data_scale=args.data_scale,
        data_zero_point=args.data_zero_point,
    )
    result = tune(args.model, args.out, options)
    best = result.best
    full = [m for m in result.measurements if m.stage == "full"]
    print(f"wrote {result.out_dir}/tune.json, tune.html and best/")
    print(
        f"  {len(result.measurements) - len(full)} candidates on the first samples, "
        f"{len(full)} on all; best by {result.metric}:"
    )
    value = {"accuracy": best.accuracy, "agreement": best.agreement, "snr": best.snr_db}
    print(
        f"  {best.options}\n  {result.metric} {value[result.metric]:.4g}, flash "
        f"{best.flash_bytes:,} B, RAM {best.ram_bytes:,} B, {best.instructions:,} instructions, "
        f"bit-exact {best.bit_exact}/{best.samples}",
        file=sys.stdout,
    )
    return 0
