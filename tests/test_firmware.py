"""Firmware builds for every target (real boards build only; test_emulator runs the others)."""

from __future__ import annotations

import re
import subprocess

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
    "cortex-m3": ("v7", None),
    "cortex-m4": ("v7E-M", "VFPv4-D16"),
    "cortex-m7": ("v7E-M", "FPv5/FP-D16"),
    "cortex-m55": ("v8.1-M.mainline", "FPv5/FP-D16"),
}


@pytest.fixture(scope="module")
def kws_float(tmp_path_factory):
    model = shared_path("models", "kws_dscnn", "kws_ref_model_float32.onnx")
    out = tmp_path_factory.mktemp("fw") / "kws"
    return compile_model(model, out, CompileOptions())


def test_a_linux_board_gets_no_firmware(kws_float):
    with pytest.raises(TargetError, match="Linux board"):
        build_firmware(kws_float.out_dir, "rpi4")


@pytest.mark.parametrize("target", [t.name for t in list_targets("mcu")])
def test_builds_for_every_target(kws_float, target):
    board = load_target(target)
    build = build_firmware(kws_float.out_dir, target)
    assert build.elf.is_file() and build.map_file.is_file() and not build.reused
    assert build.warnings == []
    # The arena in the image is exactly the planned one; weights are in flash, the rest in RAM.
    assert build.arena_bytes == kws_float.arena_bytes == 64000
    assert kws_float.weight_bytes < build.flash_bytes <= board.flash.length
    assert build.stack_reserved == board.stack_bytes
    assert kws_float.arena_bytes + board.stack_bytes < build.ram_bytes <= board.ram.length
    assert "model_arena" in build.map_file.read_text()
    attributes = subprocess.run(
        ["arm-none-eabi-readelf", "-A", str(build.elf)], capture_output=True, text=True, check=True
    ).stdout
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
    linker = (build.elf.parent / "src" / "fw_linker.ld").read_text()
    assert f"ORIGIN = 0x{board.flash.origin:08X}, LENGTH = 0x{board.flash.length:X}" in linker
    assert f"ORIGIN = 0x{board.ram.origin:08X}, LENGTH = 0x{board.ram.length:X}" in linker
    entry = subprocess.run(
        ["arm-none-eabi-nm", str(build.elf)], capture_output=True, text=True, check=True
    ).stdout
    vectors = int(re.search(r"^([0-9a-f]+) R fw_vectors$", entry, re.M).group(1), 16)
    assert vectors == board.flash.origin  # the vector table opens the image


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


def test_arena_too_big_for_ram_is_refused(tmp_path):
    model = shared_path("models", "vww_mobilenet", "vww_96_float.onnx")
    result = compile_model(model, tmp_path / "vww", CompileOptions())
    arena = result.arena_bytes
    with pytest.raises(TargetError, match=rf"nrf52840-dk's RAM: arena {arena} B .* > 262144 B"):
        build_firmware(result.out_dir, "nrf52840-dk")
