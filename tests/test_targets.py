"""Target descriptions: every shipped board loads with its known facts; bad files fail clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgec.errors import TargetError
from edgec.firmware import count_ratio
from edgec.targets import DEFAULT_TARGET, list_targets, load_target, load_target_file, target_names

EMULATED = ["mps2-an385", "mps2-an386", "mps2-an500", "mps3-an547", "netduinoplus2"]


def test_every_shipped_target_loads():
    names = target_names()
    assert set(EMULATED) <= set(names)
    assert [t.name for t in list_targets()] == names
    targets = list_targets("mcu")  # the Linux (TVM) boards are checked in test_tvm_targets.py
    real = [t for t in targets if not t.emulated]
    assert len(real) >= 2 and all(t.timer == "dwt" and t.count_unit == "cycles" for t in real)
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


def test_instruction_ratio_is_ns_per_tick_over_ns_per_instruction():
    # 25 MHz SysTick: 40 ns per tick; -icount shift=6: 64 ns per instruction -> 40/64 = 5/8.
    assert count_ratio(load_target("mps2-an386")) == (5, 8)
    num, den = count_ratio(load_target("netduinoplus2"))  # 168 MHz: (1e9/168e6)/64
    assert num / den == pytest.approx(1e9 / 168e6 / 64)
    assert count_ratio(load_target("nucleo-f746zg")) == (1, 1)


def test_unknown_target_lists_the_known_ones():
    with pytest.raises(TargetError, match=r"unknown target 'nope'.*mps2-an386"):
        load_target("nope")
    with pytest.raises(TargetError, match="unknown target"):
        load_target("../targets/mps2-an386")


GOOD = (Path(__file__).resolve().parent.parent / "targets" / "mps2-an386.toml").read_text()


def _write(tmp_path: Path, text: str, name: str = "mps2-an386") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("base = 0x40004000", "", r"uart\.base: missing"),
        ("base = 0x40004000", 'base = "0x40004000"', r"uart\.base: expected int"),
        (
            'fpu = "fpv4-sp-d16"',
            'fpu = "none"',
            r"core\.fpu: fpu 'none' does not go with float_abi 'hard'",
        ),
        ('kind = "cmsdk"', 'kind = "pl011"', r"uart\.kind: 'pl011' is not one of"),
        ("baud = 115200", "baud = 2000000", r"uart\.baud: .*BAUDDIV < 16"),
        ('method = "systick_icount"', 'method = "rdtsc"', r"timer\.method"),
        ("stack_bytes = 0x10000", "stack_bytes = 0x800000", r"memory\.stack_bytes: .*does not fit"),
        ('mve = "none"', 'mve = "float"', r"core\.mve: cortex-m4 has no MVE"),
        ('name = "mps2-an386"', 'name = "other"', r"name: 'other' differs from the file name"),
        ("[qemu]", "[qemu_off]", r"timer\.method: systick_icount needs an emulated board"),
        ("clock_hz = 25_000_000\nirq", "clock_hz = 0\nirq", r"core\.clock_hz: must be positive"),
    ],
)
def test_bad_fields_name_file_and_field(tmp_path, old, new, message):
    assert old in GOOD
    path = _write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(TargetError, match=message) as info:
        load_target_file(path)
    assert str(path) in str(info.value)


def test_invalid_toml_is_a_target_error(tmp_path):
    path = _write(tmp_path, GOOD + "\n[core\n")
    with pytest.raises(TargetError, match="not valid TOML"):
        load_target_file(path)


def test_stm32_pins_are_checked(tmp_path):
    text = (Path(__file__).resolve().parent.parent / "targets" / "nucleo-f746zg.toml").read_text()
    path = _write(tmp_path, text.replace('tx_pin = "PD8"', 'tx_pin = "D8"'), "nucleo-f746zg")
    with pytest.raises(TargetError, match=r"uart\.tx_pin: expected a pin like 'PD8'"):
        load_target_file(path)
