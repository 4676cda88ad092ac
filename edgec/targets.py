"""Board descriptions: ``targets/<name>.toml`` loaded and checked into a ``Target``.

A target says what the firmware must be built for (core, FPU/DSP/MVE, compiler flags),
where it lives (flash and RAM), how it talks (UART), how it measures time (DWT cycle
counter on real silicon, SysTick under ``-icount`` on QEMU, which counts instructions)
and, for emulated boards, how QEMU runs it. Every problem in a file is a ``TargetError``
naming the file and the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgec.errors import TargetError
from edgec.linux_targets import LinuxTarget, parse_linux_target
from edgec.protocol import MAX_PAYLOAD
from edgec.resources import targets_dir
from edgec.target_uart import (  # noqa: F401 - re-exported: firmware.py, tests
    NRF51_UART_BAUD,
    NRF_UARTE_BAUD,
    POLLED_UARTS,
    UART_KINDS,
    RegisterBit,
    Uart,
    parse_uart,
)

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10 needs the tomli backport
    import tomli as tomllib

DEFAULT_TARGET = "mps2-an386"

ARCHES = ("arm", "riscv")
# dwt: the Cortex-M cycle counter (silicon); systick_icount: SysTick under QEMU -icount;
# nrf_timer: nRF51/52 TIMER0 at 16 MHz; mcycle: the RISC-V cycle CSR; esp_pccr: the
# ESP32-C3's performance counter. Under QEMU -icount all but dwt count instructions.
TIMER_METHODS = ("dwt", "systick_icount", "nrf_timer", "mcycle", "esp_pccr")
TIMERS_BY_ARCH = {
    "arm": ("dwt", "systick_icount", "nrf_timer"),
    "riscv": ("mcycle", "esp_pccr"),
}
RISCV_ABIS = ("ilp32", "ilp32f")
FLOAT_ABIS = ("soft", "softfp", "hard")
MVE_KINDS = ("none", "int", "float")
_RISCV_ISA = re.compile(r"^rv32i[a-z]*$")


@dataclass(frozen=True)
class Region:
    """A contiguous memory range."""

    origin: int
    length: int

    @property
    def end(self) -> int:
        return self.origin + self.length


@dataclass(frozen=True)
class RegisterWrite:
    """A word written to a register (the system reset of boards without an Arm AIRCR)."""

    register: int
    value: int


@dataclass(frozen=True)
class StartupWrite:
    """A register write (``value``) or read-modify-write (``set``: OR these bits) the start-up
    code does before anything else: watchdogs off, clocks on."""

    register: int
    value: int | None
    set: int | None
    what: str


@dataclass(frozen=True)
class Qemu:
    machine: str
    icount_shift: int = 6
    flags: tuple[str, ...] = ()
    binary: str = "qemu-system-arm"


@dataclass(frozen=True)
class Target:
    """One board, as ``targets/<name>.toml`` describes it."""

    name: str
    description: str
    path: Path
    cpu: str
    fpu: str
    float_abi: str
    dsp: bool
    mve: str
    clock_hz: int
    irq_count: int
    secure: bool
    cc: str
    opt: str  # firmware glue (size)
    kernel_opt: str  # the model and its kernels (speed)
    extra_cflags: tuple[str, ...]
    flash: Region
    ram: Region
    stack_bytes: int
    uart: Uart
    timer: str
    qemu: Qemu | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    arch: str = "arm"
    abi: str = ""  # RISC-V: -mabi (ilp32, ilp32f)
    max_payload: int = MAX_PAYLOAD  # the protocol's largest frame payload on this board
    plic: int | None = None  # RISC-V: the PLIC's base (interrupt-driven UART)
    reset: RegisterWrite | None = None  # RISC-V: the register write that resets the board
    startup: tuple[StartupWrite, ...] = ()  # register writes before anything else
    image_header: tuple[int, ...] = ()  # words the image starts with (a boot ROM's magic)
    # where the flash is also mapped for data reads, when code and data see it at different
    # addresses (ESP32-C3: instructions at 0x42000000, data at 0x3C000000): constants go there
    data_alias: int | None = None

    kind = "mcu"  # a microcontroller for the C backend; LinuxTarget is "linux"

    @property
    def emulated(self) -> bool:
        return self.qemu is not None

    @property
    def count_unit(self) -> str:
        """What a RUN measures: QEMU counts instructions, silicon counts cycles."""
        return "instructions" if self.emulated else "cycles"

    @property
    def hard_float(self) -> bool:
        return self.float_abi != "soft"

    @property
    def fast_kernels(self) -> bool:
        """Whether ``--kernels auto`` takes the optimized int8 kernels: with the DSP extension
        (SMLAD), on RV32 and on the Cortex-M0/M0+ (their plain multiply-add paths,
        fast_scalar.h); the Cortex-M3 keeps the portable ones."""
        return self.dsp or self.arch == "riscv" or self.cpu in ("cortex-m0", "cortex-m0plus")

    @property
    def cflags(self) -> list[str]:
        """Code-generation flags for the target's compiler (``arm-none-eabi-gcc``, or
        ``riscv64-unknown-elf-gcc``: ISA spec 2.2 keeps Zicsr in I and the multilibs found)."""
        if self.arch == "riscv":
            flags = [f"-march={self.cpu}", f"-mabi={self.abi}", "-misa-spec=2.2"]
            return flags + list(self.extra_cflags)
        flags = [f"-mcpu={self.cpu}", "-mthumb", f"-mfloat-abi={self.float_abi}"]
        if self.fpu != "none":
            flags.append(f"-mfpu={self.fpu}")
        return flags + list(self.extra_cflags)

    def summary(self) -> str:
        where = f"QEMU -M {self.qemu.machine}" if self.qemu else "real board"
        return (
            f"{self.name:15s} {self.cpu:11s} flash {self.flash.length // 1024:5d} KB  "
            f"RAM {self.ram.length // 1024:5d} KB  {self.count_unit:12s} {where}"
        )


class _Table:
    """Typed access to one TOML table; errors name the file and the dotted field."""

    def __init__(self, data: dict, file: Path, prefix: str = ""):
        self.data, self.file, self.prefix = data, file, prefix

    def error(self, key: str, message: str) -> TargetError:
        return TargetError(f"{self.file}: {self.prefix}{key}: {message}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if key not in self.data:
            if default is ...:
                raise self.error(key, "missing")
            return default
        value = self.data[key]
        if isinstance(value, bool) and kind is int:
            raise self.error(key, f"expected an integer, got {value!r}")
        if not isinstance(value, kind):
            name = (
                kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            )
            raise self.error(key, f"expected {name}, got {value!r}")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: Any = ...) -> str:
        value = self.get(key, str, default)
        if value not in choices:
            raise self.error(key, f"{value!r} is not one of {', '.join(choices)}")
        return value

    def positive(self, key: str, default: Any = ...) -> int:
        value = self.get(key, int, default)
        if value is not None and value <= 0:
            raise self.error(key, f"must be positive, got {value}")
        return value

    def table(self, key: str, required: bool = True) -> _Table | None:
        if key not in self.data:
            if required:
                raise self.error(key, "missing table")
            return None
        return _Table(self.get(key, dict), self.file, f"{self.prefix}{key}.")

    def strings(self, key: str) -> tuple[str, ...]:
        values = self.get(key, list, [])
        if not all(isinstance(v, str) for v in values):
            raise self.error(key, "expected a list of strings")
        return tuple(values)


def _region(parent: _Table, key: str) -> Region:
    table = parent.table(key)
    origin = table.get("origin", int)
    length = table.positive("length")
    if origin < 0 or origin + length > 1 << 32:
        raise parent.error(
            key, f"range 0x{origin:x}+0x{length:x} is outside the 32-bit address space"
        )
    return Region(origin, length)


TARGET_KINDS = ("mcu", "linux")


def parse_target(data: dict, file: Path) -> Target | LinuxTarget:
    """Check a parsed TOML document and build its ``Target`` (or ``LinuxTarget``)."""
    top = _Table(data, file)
    if top.choice("kind", TARGET_KINDS, "mcu") == "linux":
        return parse_linux_target(top, file)
    core = top.table("core")
    toolchain = top.table("toolchain")
    memory = top.table("memory")
    qemu_table = top.table("qemu", required=False)
    arch = core.choice("arch", ARCHES, "arm")
    core_fields = _riscv_core(core) if arch == "riscv" else _arm_core(core)
    flash, ram = _region(memory, "flash"), _region(memory, "ram")
    stack = memory.positive("stack_bytes")
    if stack >= ram.length:
        raise memory.error("stack_bytes", f"{stack} does not fit in {ram.length} bytes of RAM")
    if flash.origin < ram.end and ram.origin < flash.end:
        raise memory.error("ram", "overlaps flash")
    timer_table = top.table("timer")
    timer = timer_table.choice("method", TIMERS_BY_ARCH[arch])
    qemu = None
    if qemu_table is not None:
        shift = qemu_table.get("icount_shift", int, 6)
        if not 0 <= shift <= 10:
            raise qemu_table.error("icount_shift", f"must be 0..10, got {shift}")
        binary = qemu_table.get("binary", str, QEMU_BINARIES[arch])
        qemu = Qemu(qemu_table.get("machine", str), shift, qemu_table.strings("flags"), binary)
    if timer == "systick_icount" and qemu is None:
        raise timer_table.error("method", "systick_icount needs an emulated board ([qemu] table)")
    if timer == "nrf_timer" and qemu is not None and qemu.icount_shift < 7:
        # 125 ns timer ticks must not be longer than an instruction (see fw_counter.c)
        raise qemu_table.error("icount_shift", "nrf_timer counts instructions only from 7 on")
    name = top.get("name", str)
    if name != file.stem:
        raise top.error("name", f"{name!r} differs from the file name {file.stem!r}")
    uart = parse_uart(top.table("uart"))
    startup = tuple(
        _startup_write(top, i, item) for i, item in enumerate(top.get("startup", list, []))
    )
    header = memory.get("image_header", list, [])
    if not all(isinstance(w, int) and 0 <= w < 1 << 32 for w in header):
        raise memory.error("image_header", "expected a list of 32-bit words")
    protocol = top.table("protocol", required=False)
    max_payload = MAX_PAYLOAD
    if protocol is not None:
        max_payload = protocol.get("max_payload", int, MAX_PAYLOAD)
        if not 128 <= max_payload <= MAX_PAYLOAD:
            raise protocol.error("max_payload", f"must be 128..{MAX_PAYLOAD}, got {max_payload}")
    if arch == "riscv" and uart.irq is not None and core_fields["plic"] is None:
        raise core.error("plic", "missing: an interrupt-driven UART needs the PLIC's address")
    return Target(
        name=name,
        description=top.get("description", str, ""),
        path=file,
        arch=arch,
        **core_fields,
        cc=toolchain.get("cc", str, DEFAULT_CC[arch]),
        opt=toolchain.get("opt", str, "-Os"),
        kernel_opt=toolchain.get("kernel_opt", str, "-O2"),
        extra_cflags=toolchain.strings("cflags"),
        flash=flash,
        ram=ram,
        stack_bytes=stack,
        uart=uart,
        timer=timer,
        qemu=qemu,
        max_payload=max_payload,
        startup=startup,
        image_header=tuple(header),
        data_alias=memory.get("data_alias", int, None),
    )


def _startup_write(top: _Table, index: int, item: Any) -> StartupWrite:
    if not isinstance(item, dict):
        raise top.error(f"startup[{index}]", "expected { register = 0x…, value or set = 0x… }")
    entry = _Table(item, top.file, f"startup[{index}].")
    value, bits = entry.get("value", int, None), entry.get("set", int, None)
    if (value is None) == (bits is None):
        raise entry.error("value", "give exactly one of value (write) and set (OR these bits)")
    return StartupWrite(entry.get("register", int), value, bits, entry.get("what", str, ""))


DEFAULT_CC = {"arm": "arm-none-eabi-gcc", "riscv": "riscv64-unknown-elf-gcc"}
QEMU_BINARIES = {"arm": "qemu-system-arm", "riscv": "qemu-system-riscv32"}


def _arm_core(core: _Table) -> dict:
    """The [core] fields of a Cortex-M board."""
    cpu = core.get("cpu", str)
    if not re.fullmatch(r"cortex-m\d+(plus)?", cpu):
        raise core.error("cpu", f"expected a Cortex-M core like 'cortex-m4', got {cpu!r}")
    float_abi = core.choice("float_abi", FLOAT_ABIS)
    fpu = core.get("fpu", str)
    if (fpu == "none") != (float_abi == "soft"):
        raise core.error("fpu", f"fpu {fpu!r} does not go with float_abi {float_abi!r}")
    mve = core.choice("mve", MVE_KINDS, "none")
    if mve != "none" and cpu not in ("cortex-m55", "cortex-m85"):
        raise core.error("mve", f"{cpu} has no MVE (Helium)")
    return {
        "cpu": cpu,
        "fpu": fpu,
        "float_abi": float_abi,
        "dsp": core.get("dsp", bool, False),
        "mve": mve,
        "clock_hz": core.positive("clock_hz"),
        "irq_count": core.positive("irq_count"),
        "secure": core.get("secure", bool, False),
    }


def _riscv_core(core: _Table) -> dict:
    """The [core] fields of a 32-bit RISC-V board: ISA and ABI, its PLIC and reset."""
    isa = core.get("isa", str)
    if not _RISCV_ISA.match(isa):
        raise core.error("isa", f"expected a 32-bit ISA like 'rv32imac', got {isa!r}")
    abi = core.choice("abi", RISCV_ABIS)
    if abi == "ilp32f" and "f" not in isa[4:]:
        raise core.error("abi", f"ilp32f needs the F extension, which {isa} lacks")
    reset = None
    if "reset" in core.data:
        table = core.table("reset")
        reset = RegisterWrite(table.get("register", int), table.get("value", int))
    return {
        "cpu": isa,
        "abi": abi,
        "fpu": "f" if abi == "ilp32f" else "none",
        "float_abi": "hard" if abi == "ilp32f" else "soft",
        "dsp": False,
        "mve": "none",
        "clock_hz": core.positive("clock_hz"),
        "irq_count": core.positive("irq_count", 32),
        "secure": False,
        "plic": core.get("plic", int, None),
        "reset": reset,
    }


def load_target_file(path: str | Path) -> Target | LinuxTarget:
    """Read and check one target file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise TargetError(f"{path}: cannot read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise TargetError(f"{path}: not valid TOML ({exc})") from None
    return parse_target(data, path)


def target_names() -> list[str]:
    return sorted(p.stem for p in targets_dir().glob("*.toml"))


def load_target(name: str | Target | LinuxTarget | None = None) -> Target | LinuxTarget:
    """The target called ``name`` (default: the emulated ``mps2-an386``)."""
    if isinstance(name, (Target, LinuxTarget)):
        return name
    name = name or DEFAULT_TARGET
    path = targets_dir() / f"{name}.toml"
    if not re.fullmatch(r"[A-Za-z0-9._-]+", name) or not path.is_file():
        raise TargetError(f"unknown target {name!r}; choose from {', '.join(target_names())}")
    return load_target_file(path)


def list_targets(kind: str | None = None) -> list[Target | LinuxTarget]:
    """Every target shipped with edgec (of ``kind``, "mcu" or "linux", if given), by name."""
    targets = [load_target(name) for name in target_names()]
    return [t for t in targets if kind is None or t.kind == kind]


def load_board(name: str | None, kind: str) -> Target | LinuxTarget:
    """``load_target``, refusing a target of the other kind (the C backend needs an MCU, the
    TVM backend a Linux board)."""
    target = load_target(name)
    if target.kind != kind:
        wanted = {
            "mcu": "a microcontroller (--backend c)",
            "linux": "a Linux board (--backend tvm)",
        }
        choices = ", ".join(t.name for t in list_targets(kind))
        raise TargetError(
            f"target {target.name!r} is {wanted[target.kind]}; this needs {wanted[kind]}: "
            f"choose from {choices}"
        )
    return target
