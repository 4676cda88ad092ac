"""Target descriptions: every shipped board loads with its known facts; bad files fail clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgec.errors import TargetError
from edgec.firmware import count_ratio
from edgec.targets import DEFAULT_TARGET, list_targets, load_target, load_target_file, target_names

EMULATED = [
    "microbit",
    "mps2-an385",
    "mps2-an386",
    "mps2-an500",
    "mps2-an505",
    "mps3-an547",
    "netduinoplus2",
    "riscv32-virt",
    "riscv32f-virt",
]


def test_every_shipped_target_loads():
    names = target_names()
    assert set(EMULATED) <= set(names)
    assert [t.name for t in list_targets()] == names
    targets = list_targets("mcu")  # the Linux (TVM) boards are checked in test_tvm_targets.py
    real = [t for t in targets if not t.emulated]
    assert len(real) >= 2 and all(t.count_unit == "cycles" for t in real)
    assert {t.timer for t in real} == {"dwt", "mcycle", "esp_pccr"}
    assert all(t.count_unit == "instructions" and t.qemu is not None for t in targets if t.emulated)
    assert {t.name for t in targets if t.arch == "riscv" and not t.emulated} == {
        "longan-nano",
        "esp32c3-devkitm",
    }
    for t in targets:
        assert t.flash.length > 0 and t.ram.length > t.stack_bytes
        assert t.summary().startswith(t.name)


def test_default_is_the_emulated_cortex_m4f():
    target = load_target()
    assert target.name == DEFAULT_TARGET == "mps2-an386"
    assert target.emulated and target.qemu.machine == "mps2-an386" and target.qemu.icount_shift == 6
    assert target.cflags == ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
    assert (target.flash.origin, target.flash.length) == (0, 4 << 20)
    assert (target.ram.origin, target.ram.length) == (0x2000_0000, 4 << 20)
    assert (target.uart.kind, target.uart.base, target.uart.irq) == ("cmsdk", 0x4000_4000, 0)
    assert target.count_unit == "instructions"


def test_board_facts():
    an385 = load_target("mps2-an385")
    assert an385.float_abi == "soft" and not any(f.startswith("-mfpu") for f in an385.cflags)
    an500 = load_target("mps2-an500")
    assert an500.cpu == "cortex-m7" and an500.ram.origin == 0x6000_0000
    an547 = load_target("mps3-an547")
    assert an547.secure and an547.mve == "float" and an547.uart.base == 0x5930_3000
    assert (an547.flash.origin, an547.ram.origin) == (0x1000_0000, 0x3000_0000)
    netduino = load_target("netduinoplus2")
    assert (netduino.uart.kind, netduino.uart.base, netduino.uart.irq) == (
        "stm32_usart_f4",
        0x4001_1000,
        37,
    )
    assert netduino.flash.origin == 0x0800_0000 and netduino.clock_hz == 168_000_000
    l4 = load_target("nucleo-l4r5zi")
    assert (
        l4.flash.length == 2 << 20 and l4.ram.length == 640 << 10 and l4.uart.kind == "stm32_lpuart"
    )
    assert not l4.emulated and l4.qemu is None


def test_new_core_facts():
    m0 = load_target("microbit")
    assert m0.cpu == "cortex-m0" and not m0.dsp and not m0.hard_float
    assert (m0.ram.origin, m0.ram.length) == (0x2000_0000, 16 << 10) and m0.max_payload == 256
    assert (m0.uart.kind, m0.uart.base, m0.uart.irq) == ("nrf51_uart", 0x4000_2000, 2)
    assert m0.timer == "nrf_timer" and m0.qemu.icount_shift == 7
    m33 = load_target("mps2-an505")
    assert m33.cpu == "cortex-m33" and m33.dsp and m33.secure and m33.uart.base == 0x5020_0000
    rv = load_target("riscv32-virt")
    assert rv.arch == "riscv" and rv.cflags == ["-march=rv32imac", "-mabi=ilp32", "-misa-spec=2.2"]
    assert rv.qemu.binary == "qemu-system-riscv32" and "-bios" in rv.qemu.flags
    assert (rv.uart.kind, rv.uart.irq, rv.plic) == ("ns16550", 10, 0x0C00_0000)
    rvf = load_target("riscv32f-virt")
    assert rvf.hard_float and rvf.cflags[:2] == ["-march=rv32imafc", "-mabi=ilp32f"]
    esp = load_target("esp32c3-devkitm")
    assert esp.image_header == (0xAEDB041D, 0xAEDB041D) and esp.data_alias == 0x3C00_0000
    assert esp.uart.irq is None and len(esp.startup) == 12 and esp.timer == "esp_pccr"
    gd = load_target("longan-nano")
    assert gd.uart.kind == "stm32_usart_f1" and gd.uart.irq is None and gd.timer == "mcycle"


def test_instruction_ratio_is_ns_per_tick_over_ns_per_instruction():
    # 25 MHz SysTick: 40 ns per tick; -icount shift=6: 64 ns per instruction -> 40/64 = 5/8.
    assert count_ratio(load_target("mps2-an386")) == (5, 8)
    num, den = count_ratio(load_target("netduinoplus2"))  # 168 MHz: (1e9/168e6)/64
    assert num / den == pytest.approx(1e9 / 168e6 / 64)
    assert count_ratio(load_target("nucleo-f746zg")) == (1, 1)
    # mcycle under -icount shift=6 reads virtual ns: 64 per instruction
    assert count_ratio(load_target("riscv32-virt")) == (1, 64)
    assert count_ratio(load_target("microbit")) == (1, 1)  # TIMER0 converts on the device


def test_unknown_target_lists_the_known_ones():
    with pytest.raises(TargetError, match=r"unknown target 'nope'.*mps2-an386"):
        load_target("nope")
    with pytest.raises(TargetError, match="unknown target"):
        load_target("../targets/mps2-an386")


def shipped(name: str) -> str:
    return (Path(__file__).resolve().parent.parent / "targets" / f"{name}.toml").read_text()


GOOD = shipped("mps2-an386")


def _write(tmp_path: Path, text: str, name: str = "mps2-an386") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("target", "old", "new", "message"),
    [
        ("mps2-an386", "base = 0x40004000", "", r"uart\.base: missing"),
        ("mps2-an386", "base = 0x40004000", 'base = "0x40004000"', r"uart\.base: expected int"),
        (
            "mps2-an386",
            'fpu = "fpv4-sp-d16"',
            'fpu = "none"',
            r"core\.fpu: fpu 'none' does not go with float_abi 'hard'",
        ),
        ("mps2-an386", 'kind = "cmsdk"', 'kind = "pl011"', r"uart\.kind: 'pl011' is not one of"),
        ("mps2-an386", "baud = 115200", "baud = 2000000", r"uart\.baud: .*BAUDDIV < 16"),
        ("mps2-an386", 'method = "systick_icount"', 'method = "rdtsc"', r"timer\.method"),
        (
            "mps2-an386",
            "stack_bytes = 0x10000",
            "stack_bytes = 0x800000",
            r"memory\.stack_bytes: .*does not fit",
        ),
        ("mps2-an386", 'mve = "none"', 'mve = "float"', r"core\.mve: cortex-m4 has no MVE"),
        (
            "mps2-an386",
            'name = "mps2-an386"',
            'name = "other"',
            r"name: 'other' differs from the file name",
        ),
        (
            "mps2-an386",
            "[qemu]",
            "[qemu_off]",
            r"timer\.method: systick_icount needs an emulated board",
        ),
        (
            "mps2-an386",
            "clock_hz = 25_000_000\nirq",
            "clock_hz = 0\nirq",
            r"core\.clock_hz: must be positive",
        ),
        (
            "nucleo-f746zg",
            'tx_pin = "PD8"',
            'tx_pin = "D8"',
            r"uart\.tx_pin: expected a pin like 'PD8'",
        ),
        ("riscv32-virt", 'isa = "rv32imac"', 'isa = "rv64gc"', r"core\.isa: expected a 32-bit"),
        (
            "riscv32-virt",
            'abi = "ilp32"',
            'abi = "ilp32f"',
            r"core\.abi: ilp32f needs the F extension",
        ),
        (
            "riscv32-virt",
            'method = "mcycle"',
            'method = "dwt"',
            r"timer\.method: 'dwt' is not one of mcycle",
        ),
        ("riscv32-virt", "plic = 0x0C000000\n", "", r"core\.plic: missing"),
        ("riscv32-virt", "irq = 10\n", "", r"uart\.irq: missing \(only .* may be polled\)"),
        (
            "microbit",
            "icount_shift = 7",
            "icount_shift = 6",
            r"qemu\.icount_shift: nrf_timer counts instructions",
        ),
    ],
)
def test_bad_fields_name_file_and_field(tmp_path, target, old, new, message):
    text = shipped(target)
    assert old in text
    path = _write(tmp_path, text.replace(old, new, 1), target)
    with pytest.raises(TargetError, match=message) as info:
        load_target_file(path)
    assert str(path) in str(info.value)


def test_invalid_toml_is_a_target_error(tmp_path):
    path = _write(tmp_path, GOOD + "\n[core\n")
    with pytest.raises(TargetError, match="not valid TOML"):
        load_target_file(path)
