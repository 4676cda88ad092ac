"""The generated zero-copy API: inputs and outputs in the arena (model_input_buffer,
model_output_buffer, model_invoke), model_run as the copying convenience, and the declared
step from which a run may overwrite its inputs (MODEL_INPUT_OVERWRITE_STEP)."""

from __future__ import annotations

import re
import subprocess

import numpy as np
import onnx
import pytest
from conftest import shared_path
from onnx import TensorProto, helper, numpy_helper

from edgec.backends.c.build import build_host
from edgec.compiler import CompileOptions, compile_model
from edgec.interp import Interpreter

# Per sample: the outputs of model_invoke() on the input written into the arena, the
# outputs of model_run() (copies), then after the hooked invoke the first step at which
# the input buffer no longer held the sample (NUM_STEPS: never) and the whole input
# buffer after the run.
PROGRAM = r"""
#include <stdio.h>
#include <string.h>
#include "model.h"
static model_input0_t sample[MODEL_INPUT0_SIZE];
static int32_t changed_at;
static void hook(int32_t step, const void *data, int32_t bytes, void *user)
{
    (void)data;
    (void)bytes;
    (void)user;
    if (changed_at == MODEL_NUM_STEPS && memcmp(model_input_buffer(0), sample, sizeof sample)) {
        changed_at = step;
    }
}
int main(void)
{
    static model_output0_t copied[MODEL_OUTPUT0_SIZE];
    while (fread(sample, sizeof sample, 1, stdin) == 1) {
        memcpy(model_input_buffer(0), sample, sizeof sample);
        if (model_invoke() != MODEL_OK) return 3;
        fwrite(model_output_buffer(0), 1, MODEL_OUTPUT0_BYTES, stdout);
        if (model_run(sample, copied) != MODEL_OK) return 4;
        fwrite(copied, 1, sizeof copied, stdout);
        memcpy(model_input_buffer(0), sample, sizeof sample);
        changed_at = MODEL_NUM_STEPS;
        if (model_invoke_hooked(hook, 0) != MODEL_OK) return 5;
        fwrite(&changed_at, 4, 1, stdout);
        fwrite(model_input_buffer(0), 1, sizeof sample, stdout);
    }
    return model_input_buffer(1) == NULL && model_output_buffer(-1) == NULL ? 0 : 6;
}
"""


def one_layer(folder) -> tuple[str, dict]:
    """A single fully connected layer quantized by edgec: one step, whose output cannot
    share the input's bytes (both live at it), so the input survives the run."""
    rng = np.random.default_rng(3)
    inits = [
        numpy_helper.from_array(rng.normal(0, 0.3, (5, 8)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.normal(0, 0.1, 5).astype(np.float32), "b"),
    ]
    node = helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="fc", transB=1)
    graph = helper.make_graph(
        [node],
        "one_layer",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        inits,
    )
    path = folder / "one_layer.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    np.savez(folder / "calib.npz", x=rng.uniform(-1, 1, (16, 1, 8)).astype(np.float32))
    return str(path), {"quantize": "int8", "calib": str(folder / "calib.npz")}


@pytest.mark.parametrize(
    ("model", "scratch"),
    [
        ("one_layer", "always"),
        (("kws_dscnn", "kws_ref_model_int8_qdq.onnx"), "always"),
        (("kws_dscnn", "kws_ref_model_int8_qdq.onnx"), "free"),  # layers in place
        (("hello_world_sine", "hello_world_int8_qdq.onnx"), "always"),
        (("ad_autoencoder", "ad01_int8_qdq.onnx"), "always"),
    ],
)
def test_zero_copy_io_matches_the_reference_and_declares_when_inputs_are_overwritten(
    model, scratch, tmp_path, rng
):
    path, options = (
        one_layer(tmp_path) if model == "one_layer" else (shared_path("models", *model), {})
    )
    result = compile_model(
        path, tmp_path / "out", CompileOptions(kernel_scratch=scratch, force=True, **options)
    )
    header = (result.out_dir / "model.h").read_text()
    steps = int(re.search(r"#define MODEL_NUM_STEPS (\d+)", header).group(1))
    declared = int(re.search(r"#define MODEL_INPUT_OVERWRITE_STEP (\d+)", header).group(1))
    assert 0 <= declared <= steps
    assert (declared == steps) == (model == "one_layer")  # the shared models reuse the input
    (tmp_path / "main.c").write_text(PROGRAM)
    exe = build_host(result.out_dir, tmp_path / "main.c", tmp_path / "zero_copy", sanitize=True)
    graph = result.graph
    x_spec, y_spec = graph.inputs[0], graph.outputs[0]
    samples = [
        rng.integers(-128, 128, size=x_spec.shape, dtype=np.int8).astype(x_spec.dtype)
        for _ in range(4)
    ]
    done = subprocess.run(
        [str(exe)], input=b"".join(s.tobytes() for s in samples), capture_output=True, check=True
    )
    out_bytes = int(np.prod(y_spec.shape)) * np.dtype(y_spec.dtype).itemsize
    in_bytes = samples[0].nbytes
    record = 2 * out_bytes + 4 + in_bytes
    assert len(done.stdout) == record * len(samples)
    interpreter = Interpreter(graph)
    for i, sample in enumerate(samples):
        chunk = done.stdout[i * record : (i + 1) * record]
        invoked = np.frombuffer(chunk[:out_bytes], y_spec.dtype)
        copied = np.frombuffer(chunk[out_bytes : 2 * out_bytes], y_spec.dtype)
        changed_at = int.from_bytes(chunk[2 * out_bytes : 2 * out_bytes + 4], "little")
        after = np.frombuffer(chunk[2 * out_bytes + 4 :], sample.dtype)
        reference = interpreter.run({x_spec.name: sample})[y_spec.name].reshape(-1)
        np.testing.assert_array_equal(invoked, reference)
        np.testing.assert_array_equal(copied, reference)
        # the declared step is never later than the first step that really wrote over it
        assert changed_at >= declared
        if declared == steps:  # declared to survive: it does
            assert changed_at == steps and np.array_equal(after, sample.reshape(-1))
