"""KWS int8 on the Cortex-M0 (micro:bit, 16 KB of RAM), Cortex-M33 and RV32 emulated boards:
bit-exact with edgec's host reference and equal to TensorFlow Lite Micro's outputs, exact
instruction counts, the fault report and the RAM the micro:bit firmware really takes."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from conftest import shared_path

from edgec import protocol as P
from edgec.compiler import CompileOptions, compile_model
from edgec.errors import DeviceError
from edgec.firmware import build_firmware
from edgec.harness.device import DeviceClient
from edgec.harness.emulator import Emulator
from edgec.harness.validate import ValidateOptions, validate
from tests.conftest import needs_tools

pytestmark = needs_tools(
    "qemu-system-arm", "arm-none-eabi-gcc", "qemu-system-riscv32", "riscv64-unknown-elf-gcc"
)
SAMPLES = 20
# The micro:bit holds KWS only with the smallest plan (layers in place).
BOARDS = {
    "microbit": {"kernel_scratch": "free"},
    "mps2-an505": {},
    "riscv32-virt": {},
}


_COMPILED: dict = {}


def compiled(target: str, tmp_path_factory):
    """KWS int8 compiled for ``target`` (once per test session and worker)."""
    if target not in _COMPILED:
        model = shared_path("models", "kws_dscnn", "kws_ref_model_int8_qdq.onnx")
        out = tmp_path_factory.mktemp("cores") / target
        _COMPILED[target] = compile_model(
            model, out, CompileOptions(target=target, **BOARDS[target])
        )
    return _COMPILED[target]


@pytest.fixture(params=list(BOARDS))
def kws(request, tmp_path_factory):
    return request.param, compiled(request.param, tmp_path_factory)


def test_kws_is_bit_exact_and_equal_to_tflm(kws, tmp_path):
    target, result = kws
    saved = tmp_path / "outputs.npy"
    options = ValidateOptions(
        data=str(shared_path("data", "kws01")),
        device="emulator",
        samples=SAMPLES,
        input_dtype="int8",
        save_outputs=str(saved),
        report_dir=str(tmp_path / "report"),
        progress=False,
    )
    report = validate(result.out_dir, options)
    assert report["device"] == f"emulator:{target}"
    assert report["bit_exact"] == SAMPLES  # against edgec's integer reference, on the device
    tflm = np.load(shared_path("data", "kws01", "tflm_int8_outputs.npy"))[:SAMPLES]
    np.testing.assert_array_equal(np.load(saved).reshape(SAMPLES, 12), tflm)
    counts = report["instructions_per_sample"]
    assert len(counts) == SAMPLES and 1_000_000 < min(counts) <= max(counts) < 100_000_000
    print(f"\nKWS int8 on {target}: {int(np.median(counts)):,} instructions (median)")


def test_kws_fits_the_microbit_16_kb(tmp_path_factory):
    target, result = "microbit", compiled("microbit", tmp_path_factory)
    build = build_firmware(result.out_dir, target)
    # .data + .bss (arena, protocol buffers, fault stack) + the reserved stack: the linker
    # placed them all in the 16 KB, and nothing else needs RAM
    assert build.ram_bytes <= 16 * 1024 == build.ram_capacity
    assert build.arena_bytes == result.arena_bytes <= 10_304
    firmware = build.ram_bytes - build.arena_bytes - build.stack_reserved
    assert 0 < firmware < 2500  # ring, decoder, replies, fault stack, counters
    print(
        f"\nmicro:bit RAM: {build.ram_bytes:,} B of 16,384 = arena {build.arena_bytes:,}"
        f" + stack {build.stack_reserved:,} + firmware {firmware:,}"
    )


def test_counts_are_exact_and_repeat(kws):
    target, result = kws
    build = build_firmware(result.out_dir, target)
    x = bytes(range(256)) * 2
    with Emulator(target, build.elf) as emulator:
        client = DeviceClient(emulator.connect())
        client.wait_boot(5)
        info = client.get_info()
        assert info.target == target and info.count_unit == "instructions"
        # 2 instructions per iteration: 1000 more iterations are 2000 more instructions
        _, short, _ = client.loop(1000)
        _, long, _ = client.loop(2000)
        assert long - short == 2000
        runs = []
        for _ in range(2):  # the run overwrites its input (zero-copy): send it each time
            client.set_input(0, x[: info.inputs[0].nbytes])
            runs.append(client.run())
        assert runs[0].count == runs[1].count and runs[0].ticks == runs[1].ticks
        assert 0 < runs[0].stack_bytes < info.stack_reserved


def test_a_fault_is_reported_and_reset_recovers(kws):
    target, result = kws
    build = build_firmware(result.out_dir, target)
    expected = {
        "microbit": r"HardFault at PC 0x[0-9a-f]+",  # Armv6-M: no fault status registers
        "mps2-an505": r"UsageFault|HardFault.*UNDEFINSTR",
        "riscv32-virt": r"RISC-V trap: illegal instruction at PC 0x[0-9a-f]+",
    }[target]
    with Emulator(target, build.elf) as emulator:
        client = DeviceClient(emulator.connect())
        client.wait_boot(5)
        client.request(P.Command.CRASH)
        with pytest.raises(DeviceError, match=expected):
            client.get_info()
        client.reset()
        assert client.get_info().target == target


def test_the_riscv_image_starts_where_qemu_jumps(tmp_path_factory):
    build = build_firmware(compiled("riscv32-virt", tmp_path_factory).out_dir, "riscv32-virt")
    symbols = subprocess.run(
        ["riscv64-unknown-elf-nm", str(build.elf)], capture_output=True, text=True, check=True
    ).stdout
    entry = next(line for line in symbols.splitlines() if line.endswith(" fw_reset_handler"))
    assert entry.startswith("80000000")  # where QEMU's -bios none reset vector jumps


# The shared int8 models (bench/cores.py runs them on more samples) and, for the micro:bit,
# why the others cannot fit it.
SHARED_INT8 = {
    "kws": ("kws_dscnn", "kws_ref_model_int8_qdq.onnx"),
    "ic_resnet8": ("ic_resnet8", "pretrainedResnet_quant_int8_qdq.onnx"),
    "vww": ("vww_mobilenet", "vww_96_int8_qdq.onnx"),
    "ad01": ("ad_autoencoder", "ad01_int8_qdq.onnx"),
    "hello_world": ("hello_world_sine", "hello_world_int8_qdq.onnx"),
}
TOO_BIG = {"microbit": {"ic_resnet8": "RAM", "vww": "RAM", "ad01": "flash"}}


@pytest.mark.parametrize("target", list(BOARDS))
def test_every_shared_int8_model_that_fits_is_bit_exact(target, tmp_path, rng):
    from edgec.errors import TargetError

    for name, path in SHARED_INT8.items():
        out = tmp_path / name
        options = CompileOptions(target=target, **BOARDS[target])
        try:
            result = compile_model(shared_path("models", *path), out, options)
            build_firmware(result.out_dir, target)
        except TargetError as exc:
            assert name in TOO_BIG.get(target, {}), f"{name} on {target}: {exc}"
            assert f"> {TOO_BIG[target][name]} " in str(exc)  # the memory it exceeds
            continue
        assert name not in TOO_BIG.get(target, {})
        spec = result.manifest.inputs[0]
        x = rng.integers(-128, 128, size=(2, *spec.shape), dtype=np.int8)
        np.savez(tmp_path / f"{name}.npz", x=x)
        report = validate(
            result.out_dir,
            ValidateOptions(data=str(tmp_path / f"{name}.npz"), device="emulator", progress=False),
        )
        assert report["bit_exact"] == report["samples"] == 2, name
