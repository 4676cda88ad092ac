"""The float KWS model compiled by edgec, run on emulated boards over the serial protocol (QEMU)."""

from __future__ import annotations

import json
import struct
import subprocess
import time

import numpy as np
import onnxruntime as ort
import pytest
from conftest import shared_path

from edgec import protocol as P
from edgec.compiler import CompileOptions, compile_model
from edgec.data import load_dataset
from edgec.errors import DeviceError
from edgec.firmware import build_firmware
from edgec.harness.device import DeviceClient, run_on_device
from edgec.harness.emulator import Emulator
from edgec.harness.host import run_on_host
from edgec.harness.validate import ValidateOptions
from tests.conftest import needs_tools

pytestmark = needs_tools("qemu-system-arm", "arm-none-eabi-gcc")
KWS_SCALE, KWS_ZERO = 0.5847029089927673, 83  # the float model takes (q - 83) * scale
SAMPLES = 20

HOOK_PROGRAM = r"""
#include <stdio.h>
#include "model.h"
static model_input0_t in[MODEL_INPUT0_SIZE];
static model_output0_t out[MODEL_OUTPUT0_SIZE];
static void hook(int32_t step, const void *data, int32_t bytes, void *user)
{
    (void)user;
    fwrite(&step, 4, 1, stdout);
    fwrite(&bytes, 4, 1, stdout);
    fwrite(data, 1, (size_t)bytes, stdout);
}
int main(void)
{
    while (fread(in, sizeof in, 1, stdin) == 1) {
        model_run_hooked(in, out, hook, 0);
    }
    return 0;
}
"""


def kws_options(**changes) -> ValidateOptions:
    settings = {
        "device": "emulator",
        "samples": SAMPLES,
        "input_dtype": "int8",
        "data_scale": KWS_SCALE,
        "data_zero_point": KWS_ZERO,
        **changes,
    }
    return ValidateOptions(data=str(shared_path("data", "kws01")), **settings)


def kws_dataset(manifest, count: int = SAMPLES):
    options = kws_options()
    return load_dataset(
        options.data, manifest.inputs, None, "int8", None, KWS_SCALE, KWS_ZERO, count
    )


@pytest.fixture(scope="module")
def kws(tmp_path_factory):
    model = shared_path("models", "kws_dscnn", "kws_ref_model_float32.onnx")
    result = compile_model(model, tmp_path_factory.mktemp("emu") / "kws", CompileOptions())
    build = build_firmware(result.out_dir, "mps2-an386")
    return result, build


def host_steps(out_dir, inputs: np.ndarray, tmp_path) -> list[list[np.ndarray]]:
    """Every step's output of the same generated C built for this computer (gcc -O2)."""
    source = tmp_path / "hook.c"
    source.write_text(HOOK_PROGRAM)
    exe = tmp_path / "hook"
    subprocess.run(
        [
            "gcc",
            "-O2",
            "-std=c99",
            f"-I{out_dir}",
            *map(str, sorted(out_dir.glob("*.c"))),
            str(source),
            "-o",
            str(exe),
            "-lm",
        ],
        check=True,
    )
    raw = subprocess.run(
        [str(exe)], input=inputs.astype(np.float32).tobytes(), capture_output=True, check=True
    ).stdout
    samples, pos = [], 0
    while pos < len(raw):
        step, size = struct.unpack_from("<ii", raw, pos)
        if step == 0:
            samples.append([])
        samples[-1].append(np.frombuffer(raw[pos + 8 : pos + 8 + size], dtype=np.float32))
        pos += 8 + size
    return samples


def test_float_kws_matches_the_host_build_and_onnxruntime(kws):
    result, _ = kws
    dataset = kws_dataset(result.manifest)
    started = time.monotonic()
    run = run_on_device(result.out_dir, result.manifest, dataset, kws_options())
    seconds = time.monotonic() - started
    assert run.error is None and len(run.outputs) == SAMPLES
    device = np.stack([o[0] for o in run.outputs])
    host = np.stack(
        [o[0] for o in run_on_host(result.out_dir, result.manifest, dataset, kws_options()).outputs]
    )
    # The device runs the optimized kernels' VFMA assembly, the host the same blocking in
    # plain C (no fused multiply-add), and expf comes from newlib on one and glibc on the
    # other: the same sums within float rounding.
    np.testing.assert_allclose(device, host, rtol=1e-5, atol=1e-9)
    assert (device.argmax(-1) == host.argmax(-1)).all()
    session = ort.InferenceSession(
        str(shared_path("models", "kws_dscnn", "kws_ref_model_float32.onnx")),
        providers=["CPUExecutionProvider"],
    )
    name = session.get_inputs()[0].name
    reference = np.stack([session.run(None, {name: x})[0] for x in dataset.inputs["input_1"]])
    np.testing.assert_allclose(device, reference, rtol=1e-4, atol=1e-6)
    assert run.count_unit == "instructions" and len(run.counts) == SAMPLES
    # ~2.66 M MACs of float convolutions: at least one VFMA per product on the Cortex-M4F
    assert 2.66e6 < min(run.counts) <= max(run.counts) < 8e6
    print(
        f"\nfloat KWS on mps2-an386: {np.median(run.counts):.0f} instructions per inference, "
        f"{SAMPLES / seconds:.1f} samples/s end to end (boot included)"
    )


def test_per_layer_dumps_match_the_host_build_step_by_step(kws, tmp_path):
    result, _ = kws
    dataset = kws_dataset(result.manifest, 2)
    run = run_on_device(
        result.out_dir, result.manifest, dataset, kws_options(samples=2, per_layer=True)
    )
    assert run.error is None and len(run.layers) == 2
    host = host_steps(result.out_dir, dataset.inputs["input_1"], tmp_path)
    steps = [s["op"] for s in json.loads((result.out_dir / "memory.json").read_text())["steps"]]
    assert steps[-1] == "Softmax"
    for sample, (device_steps, host_sample) in enumerate(zip(run.layers, host)):
        assert len(device_steps) == len(host_sample) == len(steps)
        for k, (d, h) in enumerate(zip(device_steps, host_sample)):
            # VFMA assembly on the device, plain C on the host: equal within float rounding
            np.testing.assert_allclose(
                d.reshape(-1), h, rtol=1e-5, atol=1e-5, err_msg=f"step {k} ({steps[k]})"
            )
        np.testing.assert_array_equal(
            device_steps[-1].reshape(-1), run.outputs[sample][0].reshape(-1)
        )


def test_counts_repeat_exactly_and_count_instructions(kws):
    result, build = kws
    x = kws_dataset(result.manifest, 1).inputs["input_1"][0].tobytes()
    counts = []
    for _ in range(2):  # two QEMU sessions
        with Emulator("mps2-an386", build.elf) as emulator:
            client = DeviceClient(emulator.connect())
            client.wait_boot(5)
            client.set_input(0, x)
            first, second = client.run(), client.run()
            assert first.count == second.count and first.ticks == second.ticks
            counts.append(first.count)
            # subs + bne: 2 instructions per iteration, so 1000 more iterations = 2000 more.
            _, short, _ = client.loop(1000)
            unit, long, ticks = client.loop(2000)
            assert unit == "instructions" and long - short == 2000
            assert ticks == pytest.approx(
                long * 64 / 40, abs=1
            )  # 64 ns per instruction, 40 ns per tick
    assert counts[0] == counts[1]


def test_info_arena_stack_and_boot_time(kws):
    result, build = kws
    started = time.monotonic()
    with Emulator("mps2-an386", build.elf) as emulator:
        client = DeviceClient(emulator.connect())
        client.wait_boot(5)
        boot = time.monotonic() - started
        info = client.get_info()
        assert info.model_sha256 == result.manifest.model_sha256
        assert info.arena_bytes == result.arena_bytes == build.arena_bytes
        assert info.target == "mps2-an386" and info.clock_hz == 25_000_000
        assert info.inputs[0] == P.PortInfo("float32", (1, 1, 49, 10), 1960)
        assert info.outputs[0] == P.PortInfo("float32", (1, 12), 48)
        client.set_input(0, kws_dataset(result.manifest, 1).inputs["input_1"][0].tobytes())
        run = client.run()
        assert 64 < run.stack_bytes < info.stack_reserved == build.stack_reserved
        assert client.get_info().stack_peak >= run.stack_bytes
    assert boot < 3.0
    print(
        f"\nboot to first frame: {boot * 1000:.0f} ms; stack high-water {run.stack_bytes} B; "
        f"flash {build.flash_bytes} B, RAM {build.ram_bytes} B"
    )


def test_a_device_with_another_model_is_refused(kws, tmp_path):
    result, _ = kws
    other = compile_model(
        shared_path("models", "hello_world_sine", "hello_world_float.onnx"),
        tmp_path / "sine",
        CompileOptions(),
    )
    with Emulator("mps2-an386", build_firmware(other.out_dir).elf) as emulator:
        options = kws_options(samples=1)
        options.device = f"socket://127.0.0.1:{emulator.port}"
        with pytest.raises(DeviceError, match="different model"):
            run_on_device(result.out_dir, result.manifest, kws_dataset(result.manifest, 1), options)


def test_faults_are_reported_and_reset_recovers(kws):
    _, build = kws
    with Emulator("mps2-an386", build.elf) as emulator:
        client = DeviceClient(emulator.connect())
        client.wait_boot(5)
        client.request(P.Command.CRASH)
        with pytest.raises(
            DeviceError, match=r"HardFault at PC 0x[0-9a-f]+ .*UNDEFINSTR.*CFSR 0x00010000"
        ):
            client.get_info()
        with pytest.raises(DeviceError, match="faulted"):  # still faulted: every answer says so
            client.get_info()
        client.reset()
        assert client.get_info().target == "mps2-an386"
    # Hard-float Cortex-M4 code on the Cortex-M3 board: the fault names the cause.
    with Emulator("mps2-an385", build.elf) as emulator:
        client = DeviceClient(emulator.connect())
        client.wait_boot(5)
        with pytest.raises(DeviceError, match=r"UNDEFINSTR|NOCP"):
            client.get_info()
            client.set_input(0, bytes(1960))
            client.run()


@pytest.mark.parametrize("target", ["mps2-an385", "mps2-an500", "mps3-an547", "netduinoplus2"])
def test_other_emulated_boards_agree_with_mps2_an386(kws, tmp_path, target):
    result, _ = kws
    model = shared_path("models", "kws_dscnn", "kws_ref_model_float32.onnx")
    other = compile_model(model, tmp_path / target, CompileOptions(target=target))
    dataset = kws_dataset(result.manifest, 3)
    run = run_on_device(other.out_dir, other.manifest, dataset, kws_options(samples=3))
    reference = run_on_device(result.out_dir, result.manifest, dataset, kws_options(samples=3))
    assert run.error is None and run.device == f"emulator:{target}"
    np.testing.assert_allclose(
        np.stack([o[0] for o in run.outputs]),
        np.stack([o[0] for o in reference.outputs]),
        rtol=1e-5,
        atol=1e-12,
    )
    assert run.count_unit == "instructions" and all(c > 0 for c in run.counts)


# A hand-written model with the generated API (two integer inputs and outputs, two steps): the
# firmware must carry any dtype and any number of ports, byte for byte.
TOY_HEADER = r"""
#ifndef TOY_H
#define TOY_H
#include <stdint.h>
typedef enum { TOY_OK = 0, TOY_ERR_NULL_POINTER = 1 } toy_status;
#define TOY_ARENA_BYTES 32
#define TOY_NUM_STEPS 2
typedef int8_t toy_input0_t;
#define TOY_INPUT0_SIZE 8
#define TOY_INPUT0_BYTES 8
#define TOY_INPUT0_RANK 2
#define TOY_INPUT0_SHAPE {1, 8}
#define TOY_INPUT0_DTYPE "int8"
typedef int16_t toy_input1_t;
#define TOY_INPUT1_SIZE 6
#define TOY_INPUT1_BYTES 12
#define TOY_INPUT1_RANK 2
#define TOY_INPUT1_SHAPE {2, 3}
#define TOY_INPUT1_DTYPE "int16"
typedef int8_t toy_output0_t;
#define TOY_OUTPUT0_SIZE 8
#define TOY_OUTPUT0_BYTES 8
#define TOY_OUTPUT0_RANK 2
#define TOY_OUTPUT0_SHAPE {1, 8}
#define TOY_OUTPUT0_DTYPE "int8"
typedef int32_t toy_output1_t;
#define TOY_OUTPUT1_SIZE 1
#define TOY_OUTPUT1_BYTES 4
#define TOY_OUTPUT1_RANK 1
#define TOY_OUTPUT1_SHAPE {1}
#define TOY_OUTPUT1_DTYPE "int32"
typedef void (*toy_step_hook)(int32_t step, const void *data, int32_t bytes, void *user);
toy_status toy_run(const int8_t *input0, const int16_t *input1, int8_t *output0, int32_t *output1);
toy_status toy_run_hooked(const int8_t *input0, const int16_t *input1, int8_t *output0,
                          int32_t *output1, toy_step_hook hook, void *user);
const char *toy_model_sha256(void);
void toy_reset(void);
#endif
"""
TOY_SOURCE = r"""
#include <string.h>
#include "toy.h"
static uint8_t toy_arena[TOY_ARENA_BYTES] __attribute__((aligned(16)));
const char *toy_model_sha256(void) { return "%s"; }
void toy_reset(void) {} /* no recurrent state */
toy_status toy_run_hooked(const int8_t *input0, const int16_t *input1, int8_t *output0,
                          int32_t *output1, toy_step_hook hook, void *user)
{
    int8_t *twice = (int8_t *)toy_arena;
    int32_t *sum = (int32_t *)(toy_arena + 16);
    for (int i = 0; i < 8; i++) {
        int v = 2 * input0[i];
        twice[i] = (int8_t)(v > 127 ? 127 : v < -128 ? -128 : v);
    }
    if (hook) hook(0, twice, 8, user);
    *sum = 0;
    for (int i = 0; i < 6; i++) *sum += input1[i];
    if (hook) hook(1, sum, 4, user);
    memcpy(output0, twice, 8);
    memcpy(output1, sum, 4);
    return TOY_OK;
}
toy_status toy_run(const int8_t *input0, const int16_t *input1, int8_t *output0, int32_t *output1)
{
    return toy_run_hooked(input0, input1, output0, output1, 0, 0);
}
"""


def test_integer_model_with_several_ports_runs_byte_exact(tmp_path, rng):
    from edgec.artifact import Manifest
    from edgec.data import Dataset

    sha = "c0ffee" + "0" * 58
    folder = tmp_path / "toy"
    folder.mkdir()
    (folder / "toy.h").write_text(TOY_HEADER)
    (folder / "toy.c").write_text(TOY_SOURCE % sha)
    manifest = {
        "model_sha256": sha,
        "prefix": "toy",
        "target": "mps2-an386",
        "arena_bytes": 32,
        "weight_bytes": 0,
        "inputs": [
            {"name": "a", "dtype": "int8", "shape": [1, 8]},
            {"name": "b", "dtype": "int16", "shape": [2, 3]},
        ],
        "outputs": [
            {"name": "y", "dtype": "int8", "shape": [1, 8]},
            {"name": "s", "dtype": "int32", "shape": [1]},
        ],
        "io_shapes": {"inputs": [[1, 8], [2, 3]], "outputs": [[1, 8], [1]]},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "memory.json").write_text(
        json.dumps(
            {
                "steps": [{"step": 0, "output": "t0"}, {"step": 1, "output": "t1"}],
                "tensors": [
                    {"buffer": "t0", "dtype": "int8", "shape": [1, 8]},
                    {"buffer": "t1", "dtype": "int32", "shape": [1]},
                ],
            }
        )
    )
    a = rng.integers(-128, 128, size=(5, 1, 8)).astype(np.int8)
    b = rng.integers(-32768, 32768, size=(5, 2, 3)).astype(np.int16)
    data = Dataset({"a": a, "b": b}, None, [f"s{i}" for i in range(5)])
    run = run_on_device(
        folder, Manifest.from_json(manifest), data, kws_options(samples=5, per_layer=True)
    )
    assert run.error is None and len(run.outputs) == 5
    for i, (y, s) in enumerate(run.outputs):
        want_y = np.clip(2 * a[i].astype(np.int32), -128, 127).astype(np.int8)
        want_s = np.array([b[i].astype(np.int64).sum()], dtype=np.int32)
        assert y.dtype == np.int8 and np.array_equal(y, want_y)
        assert s.dtype == np.int32 and np.array_equal(s, want_s)
        assert np.array_equal(run.layers[i][0], want_y) and np.array_equal(run.layers[i][1], want_s)
