"""Many generated models in firmware images on an emulated board: the device twin of
c_cases.run_cases, for the cores this computer cannot stand in for (RV32, the Cortex-M0).

Every case's C goes into one folder under its own prefix (m0, m1, ...); a generated main
copies each sample (kept in flash) into the case's input buffers (zero-copy I/O), invokes
it and writes the output buffers to the UART between a start and an end word; the host
compares them bit for bit with the reference. Cases are grouped so that each image fits the
board (all arenas are static at once: on the 16 KB micro:bit a few cases an image).
Used by tests/test_differential.py and bench/fuzz.py.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgec.backends.c import generate_c
from edgec.backends.c.build import find_compiler
from edgec.firmware import firmware_ram_bytes, link_image, render_firmware
from edgec.harness.emulator import Emulator
from edgec.targets import load_target
from tests.c_cases import Case

START, END = b"EDGC", b"DONE"


@dataclass
class ImageManifest:
    """What render_firmware reads of a manifest: the prefix and the ports (counted)."""

    prefix: str
    inputs: list
    outputs: list


def _array(name: str, data: np.ndarray) -> str:
    values = ", ".join(str(int(v)) for v in np.ascontiguousarray(data).view(np.uint8).reshape(-1))
    return f"static const uint8_t {name}[{max(1, data.nbytes)}] = {{{values or '0'}}};"


def _main(prefixes: list[str], cases: list[Case]) -> str:
    lines = ["#include <stdint.h>", "#include <string.h>", '#include "fw_uart.h"']
    lines += [f'#include "{p}.h"' for p in prefixes]
    body = []
    for p, case in zip(prefixes, cases):
        for s, sample in enumerate(case.samples):
            for i, array in enumerate(sample):
                lines.append(_array(f"{p}_s{s}_in{i}", array))
                body.append(f"    memcpy({p}_input_buffer({i}), {p}_s{s}_in{i}, {array.nbytes});")
            body.append(f"    (void){p}_invoke();")
            for k in range(len(case.graph.outputs)):
                size = f"{p.upper()}_OUTPUT{k}_BYTES"
                body.append(f"    fw_uart_write((const uint8_t *){p}_output_buffer({k}), {size});")
    lines += [
        "int main(void)",
        "{",
        "    fw_uart_init();",
        f'    fw_uart_write((const uint8_t *)"{START.decode()}", 4);',
        *body,
        f'    fw_uart_write((const uint8_t *)"{END.decode()}", 4);',
        "    fw_uart_flush();",
        "    for (;;) {",
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def _groups(cases: list[Case], arenas: list[int], budget: int) -> list[list[int]]:
    """Consecutive cases whose arenas fit the budget together (one case at least)."""
    groups, current, used = [], [], 0
    for index, arena in enumerate(arenas):
        if current and used + arena > budget:
            groups.append(current)
            current, used = [], 0
        current.append(index)
        used += arena
    return groups + ([current] if current else [])


def run_cases_on_device(
    cases: list[Case], work: Path, target: str, kernels: str = "optimized", scratch: str = "free"
) -> None:
    """Generate, build for ``target`` and run every case under QEMU; an AssertionError names
    the first case whose outputs differ from the reference."""
    board = load_target(target)
    cc = find_compiler(board.cc)
    generated = [
        generate_c(c.graph, prefix=f"m{i}", sha256="0" * 64, kernels=kernels, scratch=scratch)
        for i, c in enumerate(cases)
    ]
    budget = board.ram.length - board.stack_bytes - firmware_ram_bytes(board)
    for n, group in enumerate(_groups(cases, [g.arena_bytes for g in generated], budget)):
        folder = work / f"image{n}"
        (folder / "model").mkdir(parents=True)
        for i in group:
            for name, text in {**generated[i].files, **generated[i].kernel_files}.items():
                (folder / "model" / name).write_text(text)
        prefixes = [f"m{i}" for i in group]
        manifest = ImageManifest(prefix=prefixes[0], inputs=[0], outputs=[0])
        files = render_firmware(manifest, board)
        files["fw_main.c"] = _main(prefixes, [cases[i] for i in group])
        (folder / "build").mkdir()
        elf, _, _ = link_image(
            folder / "build", folder / "model", files, board, cc, (board.opt, board.kernel_opt)
        )
        nbytes = sum(r.nbytes for i in group for sample in cases[i].expected for r in sample)
        stream = _run(board.name, elf, nbytes)
        cursor = 0
        for i in group:
            for s, sample in enumerate(cases[i].expected):
                for o, ref in enumerate(sample):
                    got = np.frombuffer(stream[cursor : cursor + ref.nbytes], ref.dtype)
                    cursor += ref.nbytes
                    diff = got.astype(np.int64) - ref.reshape(-1).astype(np.int64)
                    assert not diff.any(), (
                        f"case m{i} (seed {cases[i].seed}) on {target}, sample {s}, output {o}: "
                        f"{np.count_nonzero(diff)} of {diff.size} values differ, "
                        f"max {np.abs(diff).max()}"
                    )


def _run(target: str, elf: Path, nbytes: int, timeout: float = 120.0) -> bytes:
    """The bytes the image writes between START and END."""
    data = b""
    with Emulator(target, elf) as emulator:
        link = emulator.connect()
        deadline = time.monotonic() + timeout
        while len(data) < nbytes + 8 and time.monotonic() < deadline:
            data += link.read(0.5)
    start = data.find(START)
    assert start >= 0 and data[start + 4 + nbytes :].startswith(END), (
        f"{target}: the image wrote {len(data)} bytes, not start + {nbytes} + end"
    )
    return data[start + 4 : start + 4 + nbytes]
