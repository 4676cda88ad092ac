"""BENCHMARKS.md's TVM section: edgec's TVM builds beside onnxruntime (bench/tvm.py)."""

from __future__ import annotations

from bench.report_float import _table as table


def _ms(value: float) -> str:
    return f"{value:.3f}" if value < 1 else f"{value:,.1f}"


def tvm_section(res: dict) -> list[str]:
    runs = [r for r in res["runs"] if "threads" in r]
    loads = [r["load_average"] for r in runs if "load_average" in r]
    load = (
        f"load average {min(loads):.1f}–{max(loads):.1f} over the measurements"
        if loads
        else "load average not recorded"
    )
    out = [
        "## TVM backend against onnxruntime (issue 21: ARM Linux boards)",
        "",
        "Command: `python bench/tvm.py --devices host,emulator,emulator-rpi5` (the float "
        "models in ../shared, their int8 QDQ twins, ResNet-18 / MobileNetV2 / EfficientNet-B0 "
        "with random weights from `bench/tvm_models.py`; `--backend tvm`, default build: "
        f"edgec's CPU schedules, untuned; TVM {res['tvm_version']}; {res['machine']}). Float "
        f"builds are validated against onnxruntime (rtol {res['rtol']:g} of each output's "
        f"peak, atol {res['atol']:g}), int8 builds bit for bit against edgec's integer reference. "
        "Latency: the built library's median per inference in TVM's VM beside onnxruntime's "
        "median `session.run` of the same ONNX file (the int8 rows: onnxruntime on the QDQ "
        "file), inputs and thread count, called in turn in one process (ratio < 1: edgec is "
        "faster; host rows: the process of median ratio of three, at several threads each "
        "engine's samples repeated for at least 50 ms after a pause); an int8 row's *vs "
        "float* is its build beside its float twin's build in the "
        "same rounds (< 1: int8 is faster). qemu-aarch64 rows run the same side-by-side in "
        "the emulated aarch64 Python against onnxruntime's aarch64 wheel: emulated time on "
        "this computer, whose ratio counts, not a board's speed (`emulator`: generic Armv8-A "
        "target `aarch64-linux`; `emulator-rpi5`: Cortex-A76 with int8 dot products). The "
        f"2 cores were shared with other jobs ({load}): the ratios carry that noise, the "
        "2-thread rows most of all.",
        "",
    ]
    devices = {"host": "host", "emulator": "qemu-aarch64", "emulator-rpi5": "qemu-aarch64 A76"}
    rows = []
    for r in sorted(runs, key=lambda r: (r["model"], r["device"], r["threads"])):
        device = devices.get(r["device"], r["device"])
        if "error" in r:
            rows.append(
                [r["model"], device, str(r.get("threads", "–")), "error: " + r["error"][:60]]
                + ["–"] * 5
            )
            continue
        checked = (
            f"{r['bit_exact']}/{r['samples']} bit-exact"
            if "bit_exact" in r
            else f"{r['samples_within']}/{r['samples']} within tol."
        )
        ort = _ms(r["onnxruntime_ms"]) if "onnxruntime_ms" in r else "–"
        ratio = f"{r['ratio']:.2f}" if "ratio" in r else "–"
        rows.append(
            [
                r["model"],
                device,
                str(r["threads"]),
                checked,
                _ms(r["latency_ms"]) if "latency_ms" in r else "–",
                ort,
                ratio,
                f"{r['vs_float']:.2f}" if "vs_float" in r else "–",
                f"{r['compile_seconds']:.0f}",
            ]
        )
    header = ["model", "device", "threads", "outputs", "edgec ms", "onnxruntime ms", "ratio"]
    out += table([*header, "vs float", "compile s"], rows)
    return [*out, ""]
