"""BENCHMARKS.md's LSTM/GRU section, from bench/results_recurrent.json."""

from __future__ import annotations

from bench.report_float import _n, _table

BOARDS = {"mps2-an386": "Cortex-M4F", "mps3-an547": "Cortex-M55"}


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def recurrent_section(res: dict) -> list[str]:
    models = res["models"]
    out = [
        "## LSTM and GRU (issue 14: recurrent models)",
        "",
        f"Command: `python bench/recurrent.py --samples {res['samples']} --exact-samples "
        f"{res['exact_samples']} --device-samples {res['device_samples']}` — the zoo's "
        "recurrent models (tests/zoo: KWS LSTM, GRU and bidirectional LSTM over 49×10 MFCC "
        "frames, an IMU GRU), each export, on seeded standard-normal inputs. Float: the "
        "default C build on the host (AddressSanitizer, UBSan) against onnxruntime, rtol = "
        f"atol = 1e-4. int8: PTQ on {res['calibration']} inputs; the sanitized host build "
        f"against the integer reference on the first {res['exact_samples']} samples, and "
        f"its outputs against onnxruntime's float ones on all {res['samples']:,} (SNR, top-1 "
        "agreement). *Output grid only*: the float outputs merely rounded to the int8 "
        "model's output grid, the agreement the int8 outputs' resolution allows (random "
        "weights give logits often within one output step of each other). *auto*: "
        "`--quantize auto` (layers under its SQNR threshold in 16x8) in the integer "
        "reference executor.",
        "",
    ]
    rows = []
    for name, exports in models.items():
        for export, r in exports.items():
            f, q, a = r["float_host"], r["int8_host"], r["auto"]
            rows.append([
                f"{name} ({export})",
                f"{f['within_1e-4']}/{f['samples']} ({f['max_abs_error']:.1e})",
                q["bit_exact"], f"{q['snr_db']:.2f}", _pct(q["top1_agreement"]),
                _pct(q["output_grid_only_agreement"]), str(q["int8_output_ties"]),
                f"{a['snr_db']:.2f} / {_pct(a['top1_agreement'])}",
            ])  # fmt: skip
    out += _table(["model (export)", "float within 1e-4 (max abs error)", "int8 host bit-exact",
                   "int8 SNR (dB)", "int8 top-1 agreement", "output grid only",
                   "int8 samples with tied top-1", "auto: SNR (dB) / agreement"],
                  rows)  # fmt: skip
    out += [
        "",
        f"On the emulated boards ({res['device_samples']} samples per model, export and "
        "board; QEMU's exact instruction counts per inference, median), the default builds: "
        "int8 gate products on fast_matrix.c (DSP on the M4F, Helium on the M55), float ones "
        "on the fast float GEMM. *per MAC*: the whole model; *LSTM/GRU per MAC*: the "
        "recurrent layers' own instructions (`--profile`) over their MACs. int8: samples "
        "bit-exact with the host reference; float: largest |error| against onnxruntime.",
        "",
    ]
    rows = []
    for name, exports in models.items():
        for export, r in exports.items():
            for board, core in BOARDS.items():
                for kind in ("float", "int8"):
                    b = r.get(f"{kind}_{board}")
                    if b is None:
                        continue
                    check = (
                        f"{b['bit_exact']}/{b['samples']}"
                        if "bit_exact" in b
                        else f"{b['max_abs_error']:.1e}"
                    )
                    rows.append([
                        f"{name} ({export})", f"{board} ({core})", kind, check,
                        _n(b["instructions"]), f"{b['per_mac']:.2f}",
                        f"{b['recurrent_per_mac']:.2f}", _n(b["flash_bytes"]),
                        _n(b["arena_bytes"]),
                    ])  # fmt: skip
    out += _table(["model (export)", "board", "build", "bit-exact / max abs error",
                   "instructions", "per MAC", "LSTM/GRU per MAC", "flash B", "arena B"],
                  rows)  # fmt: skip
    s = res.get("stateful")
    if s:
        out += [
            "",
            f"Streaming: {s['model']} compiled int8 `--stateful --stream-steps 1` (state in "
            f"the arena, `model_reset()` per sequence), on {s['board']}, fed one frame per "
            f"`model_run` for {s['frames_per_sequence']} frames: the last frame's output "
            f"equals the whole-sequence int8 model's in {s['equal_to_whole_sequence']} of "
            f"{s['sequences']} sequences (bit-exact with the stateful reference: "
            f"{s['bit_exact_vs_stateful_reference']}); {_n(s['instructions_per_sequence'])} "
            f"instructions per sequence, arena {_n(s['arena_bytes'])} B.",
        ]
    return [*out, ""]
