"""Firmware builds for every target (real boards build only; test_emulator runs the others)."""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest
from conftest import shared_path

from edgec.compiler import CompileOptions, compile_model
from edgec.errors import TargetError
from edgec.firmware import build_firmware
from edgec.targets import list_targets, load_target
from tests.conftest import needs_tools

pytestmark = needs_tools("arm-none-eabi-gcc")

# What readelf -A must say for each core: the flags in the target file reached the compiler.
CPU_ATTRIBUTES = {
    "cortex-m0": ("v6S-M", None),
    "cortex-m3": ("v7", None),
    "cortex-m4": ("v7E-M", "VFPv4-D16"),
    "cortex-m7": ("v7E-M", "FPv5/FP-D16"),
    "cortex-m33": ("v8-M.mainline", "FPv5/FP-D16 for ARMv8"),
    "cortex-m55": ("v8.1-M.mainline", "FPv5/FP-D16"),
}
# RISC-V: the extensions readelf -A lists in Tag_RISCV_arch.
RISCV_EXTENSIONS = {"rv32imac": "imac", "rv32imafc": "imafc", "rv32imc": "imc"}


@pytest.fixture(scope="module")
def sine(tmp_path_factory):
    """A model small enough for every board (the micro:bit's 16 KB too)."""
    model = shared_path("models", "hello_world_sine", "hello_world_int8_qdq.onnx")
    return compile_model(model, tmp_path_factory.mktemp("fw") / "sine", CompileOptions())


@pytest.fixture(scope="module")
def kws_float(tmp_path_factory):
    model = shared_path("models", "kws_dscnn", "kws_ref_model_float32.onnx")
    out = tmp_path_factory.mktemp("fw") / "kws"
    return compile_model(model, out, CompileOptions())


def test_a_linux_board_gets_no_firmware(kws_float):
    with pytest.raises(TargetError, match="Linux board"):
        build_firmware(kws_float.out_dir, "rpi4")


@pytest.mark.parametrize("target", [t.name for t in list_targets("mcu")])
def test_builds_for_every_target(sine, target):
    board = load_target(target)
    build = build_firmware(sine.out_dir, target)
    assert build.elf.is_file() and build.map_file.is_file() and not build.reused
    assert build.warnings == []
    # The arena in the image is exactly the planned one; weights are in flash, the rest in RAM.
    assert build.arena_bytes == sine.arena_bytes
    assert sine.weight_bytes < build.flash_bytes <= board.flash.length
    assert build.stack_reserved == board.stack_bytes
    assert sine.arena_bytes + board.stack_bytes < build.ram_bytes <= board.ram.length
    assert "model_arena" in build.map_file.read_text()
    tools = board.cc.rsplit("gcc", 1)[0]
    attributes = subprocess.run(
        [f"{tools}readelf", "-A", str(build.elf)], capture_output=True, text=True, check=True
    ).stdout
    symbols = subprocess.run(
        [f"{tools}nm", str(build.elf)], capture_output=True, text=True, check=True
    ).stdout
    linker = (build.elf.parent / "src" / "fw_linker.ld").read_text()
    assert f"ORIGIN = 0x{board.flash.origin:08X}, LENGTH = 0x{board.flash.length:X}" in linker
    assert f"ORIGIN = 0x{board.ram.origin:08X}, LENGTH = 0x{board.ram.length:X}" in linker
    if board.arch == "riscv":
        arch = re.search(r'Tag_RISCV_arch: "(rv32[^"]*)"', attributes).group(1)
        letters = "".join(part[0] for part in arch[4:].split("_") if not part.startswith("z"))
        assert letters == RISCV_EXTENSIONS[board.cpu] or (
            board.cpu == "rv32imc" and letters == "imac"  # picolibc's rv32imac multilib
        )
        # the image opens with the boot ROM's header words, then the entry
        entry = int(re.search(r"^([0-9a-f]+) T fw_reset_handler$", symbols, re.M).group(1), 16)
        assert entry == board.flash.origin + 4 * len(board.image_header)
        return
    arch, fpu = CPU_ATTRIBUTES[board.cpu]
    assert re.search(rf"Tag_CPU_arch: {re.escape(arch)}\b", attributes)
    if fpu is None:
        assert "Tag_FP_arch" not in attributes and "VFP registers" not in attributes
    else:
        assert (
            f"Tag_FP_arch: {fpu}" in attributes and "Tag_ABI_VFP_args: VFP registers" in attributes
        )
    if board.mve != "none":
        assert "Tag_MVE_arch: MVE Integer and FP" in attributes
    vectors = int(re.search(r"^([0-9a-f]+) R fw_vectors$", symbols, re.M).group(1), 16)
    assert vectors == board.flash.origin  # the vector table opens the image


@pytest.mark.parametrize("target", ["mps2-an505", "riscv32-virt", "riscv32f-virt"])
def test_float_kws_builds_for_the_new_cores(kws_float, target):
    """The float KWS (64 KB arena) links for the Cortex-M33 (FPv5) and both RISC-V variants
    (soft float, and the F extension); the other boards run it in test_emulator.py."""
    build = build_firmware(kws_float.out_dir, target)
    assert build.arena_bytes == kws_float.arena_bytes == 64000 and build.warnings == []


def test_unchanged_folder_reuses_the_image(kws_float):
    first = build_firmware(kws_float.out_dir, "mps2-an386")
    again = build_firmware(kws_float.out_dir, "mps2-an386")
    assert again.reused and again.elf == first.elf and again.flash_bytes == first.flash_bytes
    forced = build_firmware(kws_float.out_dir, "mps2-an386", force=True)
    assert not forced.reused


def test_default_target_is_the_manifest_or_mps2_an386(kws_float):
    assert build_firmware(kws_float.out_dir).target == "mps2-an386"


def test_weights_too_big_for_flash_is_refused_before_compiling(tmp_path):
    model = shared_path("models", "ad_autoencoder", "ad01_fp32.onnx")  # 1.06 MB of float weights
    result = compile_model(model, tmp_path / "ad", CompileOptions())
    with pytest.raises(
        TargetError, match=r"nucleo-f746zg's flash: 1063456 B of weights .* > 1048576 B"
    ):
        build_firmware(result.out_dir, "nucleo-f746zg")
    assert not (result.out_dir / "firmware" / "nucleo-f746zg").exists()


def test_arena_too_big_for_ram_is_refused(kws_float):
    arena = kws_float.arena_bytes
    with pytest.raises(
        TargetError, match=rf"microbit's RAM: arena {arena} B .* > 16384 B .*--memory min"
    ):
        build_firmware(kws_float.out_dir, "microbit")


def test_ports_too_many_for_small_frames_are_refused():
    """The micro:bit's frames carry 256 B: an INFO answer describing eight rank-4 inputs
    would not fit one, and the firmware could not describe its model."""
    from edgec.artifact import Manifest, PortSpec
    from edgec.firmware import check_fits, info_bytes

    port = PortSpec("x", np.dtype("int8"), (1, 2, 3, 4))
    manifest = Manifest(
        target="microbit",
        model_sha256="0" * 64,
        inputs=[port] * 8,
        outputs=[PortSpec("y", np.dtype("int8"), (1, 10))],
        weight_bytes=100,
        arena_bytes=1024,
    )
    microbit, an386 = load_target("microbit"), load_target("mps2-an386")
    # status, fixed fields; per port: dtype text, rank, shape, size; the name
    assert info_bytes(manifest, microbit) == 1 + 88 + 8 * (5 + 1 + 16 + 4) + (5 + 1 + 8 + 4) + 9
    with pytest.raises(TargetError, match=r"microbit's protocol frames: .* 324 B > 256 B"):
        check_fits(manifest, microbit)
    check_fits(manifest, an386)  # 1024 B frames
