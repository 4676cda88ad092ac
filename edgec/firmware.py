"""Device firmware: the compiled model plus start-up, UART, counters and the protocol loop.

``build_firmware(out_dir, target)`` renders ``templates/firmware`` for the target, compiles
it with the generated model sources using the target's cross compiler (``arm-none-eabi-gcc``
with newlib, ``riscv64-unknown-elf-gcc`` with picolibc) and links ``fw.elf`` into
``out_dir/firmware/<target>/``. A model whose weights or arena cannot fit the target is a
``TargetError`` before anything is compiled; the flash and RAM really used are read back
from the linked ELF.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgec.artifact import MANIFEST, Manifest
from edgec.backends.c.build import find_compiler, run_compiler
from edgec.errors import BuildError, TargetError
from edgec.outdir import write_atomically
from edgec.resources import jinja_environment, templates_dir
from edgec.targets import NRF51_UART_BAUD, NRF_UARTE_BAUD, Target, load_board
from edgec.version import __version__

FIRMWARE_WARNINGS = ["-Wall", "-Wextra", "-Werror"]
MODEL_WARNINGS = ["-Wall", "-Wextra"]
COMMON_FLAGS = ["-std=c99", "-g", "-ffunction-sections", "-fdata-sections", "-fno-common"]
FIRMWARE_FLASH_BYTES = 16 * 1024  # start-up, drivers, protocol, kernels, libc pieces (rough)
UART_DRIVERS = {
    "cmsdk": "fw_uart_cmsdk.c",
    "stm32_usart_f4": "fw_uart_stm32.c",
    "stm32_usart_f1": "fw_uart_stm32.c",
    "stm32_usart": "fw_uart_stm32.c",
    "stm32_lpuart": "fw_uart_stm32.c",
    "nrf_uarte": "fw_uart_nrf_uarte.c",
    "nrf51_uart": "fw_uart_nrf51.c",
    "ns16550": "fw_uart_ns16550.c",
    "esp32c3_uart": "fw_uart_esp32c3.c",
}
PLAIN_SOURCES = [
    "fw_link.c",
    "fw_link.h",
    "fw_uart.c",
    "fw_uart.h",
    "fw_counter.c",
    "fw_system.c",
    "fw_system.h",
]
# Per architecture: the header copied to fw_arch.h, the start-up template.
ARCH_SOURCES = {
    "arm": ("fw_cortexm.h", "fw_startup_cortexm.c.j2"),
    "riscv": ("fw_riscv.h", "fw_startup_riscv.c.j2"),
}
RENDERED = {
    "fw_board.h.j2": "fw_board.h",
    "fw_main.c.j2": "fw_main.c",
    "fw_linker.ld.j2": "fw_linker.ld",
}
# The C library each toolchain links (newlib-nano; picolibc, whose errno is thread-local).
LIBC_SPECS = {"arm": "--specs=nano.specs", "riscv": "--specs=picolibc.specs"}


def ring_bytes(target: Target) -> int:
    """The receive ring: a power of two that holds one whole frame."""
    frame = target.max_payload + 10
    return 1 << (frame - 1).bit_length()


def firmware_ram_bytes(target: Target) -> int:
    """RAM the firmware needs besides arena and stack (an estimate for the early check; the
    linker has the last word): receive ring, request decoder, reply, fault stack, the rest."""
    ring = 0 if target.uart.irq is None else ring_bytes(target)
    return ring + 2 * (target.max_payload + 10) + 512 + 512


@dataclass
class FirmwareBuild:
    """A linked firmware image and what it occupies."""

    elf: Path
    map_file: Path
    target: str
    text: int
    data: int
    bss: int
    flash_bytes: int  # code, constants and the initial values of .data
    ram_bytes: int  # .data + .bss + the reserved stack
    flash_capacity: int
    ram_capacity: int
    stack_reserved: int
    arena_bytes: int  # size of the model's arena symbol in the ELF
    warnings: list[str] = field(default_factory=list)
    stamp: str = ""
    reused: bool = False

    def to_json(self) -> dict:
        data = asdict(self)
        data["elf"], data["map_file"] = self.elf.name, self.map_file.name
        data.pop("reused")
        return data


def firmware_dir(out_dir: str | Path, target: Target) -> Path:
    return Path(out_dir) / "firmware" / target.name


def count_ratio(target: Target) -> tuple[int, int]:
    """(NUM, DEN) with count = round(ticks * NUM / DEN).

    Under ``-icount shift=S`` an instruction takes 2^S ns and a SysTick tick 1e9/f ns;
    mcycle reads virtual nanoseconds there. The nRF51 TIMER0 converts on the device.
    """
    if target.qemu is None or target.timer == "nrf_timer":
        return 1, 1
    if target.timer == "mcycle":
        return 1, 1 << target.qemu.icount_shift
    num, den = 10**9, target.clock_hz * (1 << target.qemu.icount_shift)
    g = math.gcd(num, den)
    return num // g, den // g


def _uart_context(target: Target) -> dict:
    uart = target.uart
    context: dict = {"stm32": None, "nrf": None, "ns16550": None}
    if uart.kind.startswith("stm32"):
        scale = 256 if uart.kind == "stm32_lpuart" else 1
        tx, rx = (re.match(r"P([A-K])(\d+)", p).groups() for p in (uart.tx_pin, uart.rx_pin))
        context["stm32"] = {
            "brr": round(scale * uart.clock_hz / uart.baud),
            "tx_port": ord(tx[0]) - ord("A"),
            "tx_pin": int(tx[1]),
            "rx_port": ord(rx[0]) - ord("A"),
            "rx_pin": int(rx[1]),
        }
    elif uart.kind in ("nrf_uarte", "nrf51_uart"):

        def psel(pin: str) -> int:
            port, number = re.match(r"P(\d)\.(\d+)", pin).groups()
            return int(port) * 32 + int(number)

        rates = NRF_UARTE_BAUD if uart.kind == "nrf_uarte" else NRF51_UART_BAUD
        context["nrf"] = {
            "tx": psel(uart.tx_pin),
            "rx": psel(uart.rx_pin),
            "baud": rates[uart.baud],
        }
    elif uart.kind == "ns16550":
        context["ns16550"] = {"divisor": max(1, round(uart.clock_hz / (16 * uart.baud)))}
    return context


def render_firmware(manifest: Manifest, target: Target) -> dict[str, str]:
    """The firmware's own sources for ``manifest``'s model on ``target``, by file name."""
    prefix = manifest.prefix
    num, den = count_ratio(target)
    arch_header, startup = ARCH_SOURCES[target.arch]
    context = {
        "banner": f"Generated by edgec {__version__}",
        "target": target,
        "armv6m": target.cpu in ("cortex-m0", "cortex-m0plus", "cortex-m1"),
        "armv8m": target.cpu
        in ("cortex-m23", "cortex-m33", "cortex-m35p", "cortex-m55", "cortex-m85"),
        "ring_bytes": ring_bytes(target),
        "count_num": num,
        "count_den": den,
        "nrf_timer_shift": target.qemu.icount_shift
        if target.timer == "nrf_timer" and target.qemu
        else None,
        "prefix": prefix,
        "PREFIX": prefix.upper(),
        "n_inputs": len(manifest.inputs),
        "n_outputs": len(manifest.outputs),
        **_uart_context(target),
    }
    env = jinja_environment("firmware")
    templates = {**RENDERED, startup: "fw_startup.c"}
    files = {out: env.get_template(name).render(**context) for name, out in templates.items()}
    folder = templates_dir() / "firmware"
    for name in [*PLAIN_SOURCES, UART_DRIVERS[target.uart.kind]]:
        files[name] = (folder / name).read_text()
    files["fw_arch.h"] = (folder / arch_header).read_text()
    return files


def info_bytes(manifest: Manifest, target: Target) -> int:
    """The INFO answer's payload (fw_main.c.j2 do_info): the fixed fields and the model's
    SHA-256 (88 B), each port's dtype, rank, shape and size, the board's name."""
    ports = [*manifest.inputs, *manifest.outputs]
    size = 1 + 88 + sum(1 + len(str(p.dtype)) + 1 + 4 * len(p.api_shape) + 4 for p in ports)
    return size + 1 + len(target.name)


def check_fits(manifest: Manifest, target: Target) -> None:
    """``TargetError`` with the numbers when the model cannot fit the target's memories (the
    inputs and outputs live in the arena: no I/O buffers besides it)."""
    weights, arena = int(manifest.weight_bytes), int(manifest.arena_bytes)
    flash_need = weights + FIRMWARE_FLASH_BYTES
    if flash_need > target.flash.length:
        raise TargetError(
            f"the model does not fit {target.name}'s flash: {weights} B of weights"
            f" + ~{FIRMWARE_FLASH_BYTES} B of code = {flash_need} B > {target.flash.length} B"
        )
    info = info_bytes(manifest, target)
    if info > target.max_payload:
        raise TargetError(
            f"the model's ports do not fit {target.name}'s protocol frames: its INFO answer "
            f"takes {info} B > {target.max_payload} B"
        )
    firmware = firmware_ram_bytes(target)
    ram_need = arena + target.stack_bytes + firmware
    if ram_need > target.ram.length:
        hint = ""
        if manifest.options.get("memory") != "min":
            hint = " (compile with --memory min for the smallest arena)"
        raise TargetError(
            f"the model does not fit {target.name}'s RAM: arena {arena} B"
            f" + stack {target.stack_bytes} B + firmware ~{firmware} B"
            f" = {ram_need} B > {target.ram.length} B{hint}"
        )


def _stamp(out_dir: Path, files: dict[str, str], target: Target, opt: str) -> str:
    """A digest of everything that goes into the image, to skip needless rebuilds."""
    digest = hashlib.sha256(
        f"{__version__}|{target.cflags}|{opt}|{target.path.read_text()}".encode()
    )
    for path in [*sorted(out_dir.glob("*.[ch]")), out_dir / MANIFEST]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].encode())
    return digest.hexdigest()


def _tool(target: Target, name: str) -> str:
    """A binutils program beside the target's compiler (``arm-none-eabi-size`` …)."""
    cc = find_compiler(target.cc)
    prefix = Path(cc).name.rsplit("gcc", 1)[0]
    sibling = Path(cc).with_name(prefix + name)
    return str(sibling) if sibling.exists() else find_compiler(prefix + name)


def _compile(cc: str, flags: list[str], source: Path, obj: Path) -> str:
    return run_compiler([cc, *flags, "-c", str(source), "-o", str(obj)])


def build_firmware(
    out_dir: str | Path,
    target: str | Target | None = None,
    opt: str | None = None,
    force: bool = False,
    manifest: Manifest | None = None,
) -> FirmwareBuild:
    """Build (or reuse, when nothing changed) ``out_dir/firmware/<target>/fw.elf``
    (``manifest``: the folder's, when the caller has read it already)."""
    out_dir = Path(out_dir)
    manifest = manifest or Manifest.load(out_dir)
    target = load_board(target or manifest.target, "mcu")
    # One opt overrides both; by default the glue is built for size, the model for speed.
    opts = (opt, opt) if opt else (target.opt, target.kernel_opt)
    check_fits(manifest, target)
    files = render_firmware(manifest, target)
    stamp = _stamp(out_dir, files, target, " ".join(opts))
    final = firmware_dir(out_dir, target)
    previous = final / "firmware.json"
    if not force and previous.is_file() and (final / "fw.elf").is_file():
        info = json.loads(previous.read_text())
        if info.get("stamp") == stamp:
            return _from_json(final, info, reused=True)
    cc = find_compiler(target.cc)

    def fill(work: Path) -> None:
        build = _build_in(work, out_dir, manifest, target, files, cc, opts)
        build.stamp = stamp
        (work / "firmware.json").write_text(json.dumps(build.to_json(), indent=2) + "\n")

    write_atomically(final, fill, force=True)  # a failed build keeps the previous one
    return _from_json(final, json.loads((final / "firmware.json").read_text()), reused=False)


def _from_json(folder: Path, info: dict, reused: bool) -> FirmwareBuild:
    data = dict(info)
    data["elf"], data["map_file"] = folder / info["elf"], folder / info["map_file"]
    return FirmwareBuild(**data, reused=reused)


def _build_in(
    work: Path,
    out_dir: Path,
    manifest: Manifest,
    target: Target,
    files: dict[str, str],
    cc: str,
    opts: tuple[str, str],
) -> FirmwareBuild:
    elf, map_file, warnings = link_image(work, out_dir, files, target, cc, opts)
    return _measure(elf, map_file, manifest, target, warnings)


def link_image(
    work: Path,
    model_dir: Path,
    files: dict[str, str],
    target: Target,
    cc: str,
    opts: tuple[str, str],
) -> tuple[Path, Path, list[str]]:
    """Compile ``files`` (the firmware's own sources, glue flags) and the C of ``model_dir``
    (model flags) into ``work/fw.elf``: (the ELF, its map, the compilers' warnings)."""
    src, obj = work / "src", work / "obj"
    src.mkdir()
    obj.mkdir()
    for name, text in files.items():
        (src / name).write_text(text)
    model_sources = sorted(p for p in model_dir.glob("*.c") if p.name != "host_runner.c")
    for header in model_dir.glob("*.h"):
        shutil.copy(header, src / header.name)
    # picolibc's headers come with its specs; newlib's are the Arm compiler's own
    libc = [LIBC_SPECS[target.arch]] if target.arch == "riscv" else []
    base = [*target.cflags, *libc, *COMMON_FLAGS, f"-I{src}"]
    glue, model = [*base, opts[0], *FIRMWARE_WARNINGS], [*base, opts[1], *MODEL_WARNINGS]
    jobs = [(src / n, glue) for n in sorted(files) if n.endswith(".c")]
    jobs += [(p, model) for p in model_sources]
    objects = [obj / (p.stem + ".o") for p, _ in jobs]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        outputs = list(
            pool.map(lambda job: _compile(cc, job[1], job[0], obj / (job[0].stem + ".o")), jobs)
        )
    warnings = [line for text in outputs for line in text.splitlines() if "warning:" in line]
    elf, map_file = work / "fw.elf", work / "fw.map"
    link = [
        cc,
        *target.cflags,
        opts[0],
        "-nostartfiles",
        LIBC_SPECS[target.arch],
        "-Wl,--gc-sections",
        f"-Wl,-Map={map_file}",
        "-Wl,--no-warn-rwx-segments",
        "-T",
        str(src / "fw_linker.ld"),
        *map(str, objects),
        "-lm",
        "-lc",
        "-lgcc",
        "-o",
        str(elf),
    ]
    try:
        run_compiler(link)
    except BuildError as exc:
        overflow = re.findall(r"region `(\w+)' overflowed by (\d+) bytes", exc.output)
        if overflow:
            detail = "; ".join(f"{region} overflowed by {n} B" for region, n in overflow)
            raise TargetError(
                f"the firmware does not fit {target.name} (flash {target.flash.length} B, "
                f"RAM {target.ram.length} B): {detail}"
            ) from None
        raise
    return elf, map_file, warnings


def section_sizes(elf: Path, target: Target) -> dict[str, tuple[int, int]]:
    """Allocated sections of ``elf``: name → (address, size), from ``readelf -S``."""
    text = subprocess.run(
        [_tool(target, "readelf"), "-S", "-W", str(elf)], capture_output=True, text=True, check=True
    ).stdout
    row = re.compile(
        r"\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([A-Za-z]*)\s"
    )
    sections = {}
    for line in text.splitlines():
        match = row.search(line)
        if match and "A" in match.group(4) and int(match.group(3), 16):
            sections[match.group(1)] = (int(match.group(2), 16), int(match.group(3), 16))
    return sections


def symbol_size(elf: Path, target: Target, name: str) -> int | None:
    text = subprocess.run(
        [_tool(target, "nm"), "-S", str(elf)], capture_output=True, text=True, check=True
    ).stdout
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[3] == name:
            return int(parts[1], 16)
    return None


def _measure(
    elf: Path, map_file: Path, manifest: Manifest, target: Target, warnings: list[str]
) -> FirmwareBuild:
    sections = section_sizes(elf, target)
    flash_views = [target.flash.origin]  # the flash, and its data-bus mapping if any
    if target.data_alias is not None:
        flash_views.append(target.data_alias)
    in_flash = {
        n: s
        for n, (a, s) in sections.items()
        if any(v <= a < v + target.flash.length for v in flash_views)
    }
    in_ram = {n: s for n, (a, s) in sections.items() if target.ram.origin <= a < target.ram.end}
    data = in_ram.get(".data", 0)
    stack = in_ram.get(".stack", 0)
    arena = symbol_size(elf, target, f"{manifest.prefix}_arena") or 0
    return FirmwareBuild(
        elf=elf,
        map_file=map_file,
        target=target.name,
        text=sum(in_flash.values()),
        data=data,
        bss=in_ram.get(".bss", 0),
        flash_bytes=sum(in_flash.values()) + data,
        ram_bytes=sum(in_ram.values()),
        flash_capacity=target.flash.length,
        ram_capacity=target.ram.length,
        stack_reserved=stack,
        arena_bytes=arena,
        warnings=warnings,
    )
