"""Time a TVM build beside onnxruntime in one process, calls in turn; prints JSON.

    python tvm_side_by_side.py MODEL.SO MODEL.ONNX DATA.NPZ THREADS [ROUNDS] [OTHER.SO OTHER.NPZ]

Imports numpy, the TVM runtime and onnxruntime only (no edgec): bench/tvm.py runs it with
the aarch64 Python under qemu-aarch64 (bench/tvm_qemu.py), where onnxruntime is the aarch64
wheel. ``OTHER.SO`` (with its own inputs) is a third build timed in the same rounds: the
float twin of an int8 model. The libraries run on edgec's thread launcher when they have it
(``edgec_threads_start``, as the runner does). Each round times every engine on every sample,
in turn, so that all see the same load on a shared machine (see ``SETTLE_SECONDS``).
"""

from __future__ import annotations

import ctypes
import json
import sys
import time
from pathlib import Path

# Run as a script, its folder comes first on sys.path, where bench/tvm.py would shadow `tvm`.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]


# At several threads each engine runs its samples as one block, after this pause: onnxruntime's
# workers spin for about 45 ms after each run (edgec's for a few), and called in turn sample
# by sample each engine ran while the other's workers held a core (ResNet-18 at 64x64, 2
# threads: 10 ms for both, against 2.6 ms and 3.2 ms run alone). At one thread no worker
# spins, and sample-by-sample turns see the same load more closely than blocks do.
SETTLE_SECONDS = 0.1
# Blocks see the load of their own moment: at several threads, up to this many rounds while
# they take under BLOCK_SECONDS (MobileNetV2-0.35, 2 threads, 3 rounds: ratios 0.67 and 1.02
# in two runs; 10 rounds: 0.58 and 0.49; each alone: 0.35 ms and 0.52 ms).
BLOCK_ROUNDS = 10
# A block repeats its samples for at least this long: the first milliseconds after the pause
# run cold on both engines (IC at 2 threads, 10 samples, 1 ms a block: 0.13-0.17 ms a call
# for edgec, whose steady state is 0.11 ms, and onnxruntime's medians spread over
# 0.14-0.22 ms between runs).
BLOCK_MIN_SECONDS = 0.05
BLOCK_SECONDS = 10.0


def load_vm(library: str, threads: int):
    import tvm
    from tvm.runtime.vm import VirtualMachine

    vm = VirtualMachine(tvm.runtime.load_module(library), tvm.cpu())
    start = getattr(ctypes.CDLL(library), "edgec_threads_start", None)
    if start is not None:
        start.argtypes, start.restype = [ctypes.c_int], ctypes.c_int
        if start(threads) != threads:
            raise RuntimeError(f"could not start {threads} threads")
    return vm["main"]


def inputs(data: str, metas) -> list[dict]:
    """One feed per sample of the .npz (array ``x`` or one array per input name)."""
    import numpy as np

    arrays = dict(np.load(data))
    count = len(next(iter(arrays.values())))

    def sample(name, shape, i):
        shape = [d if isinstance(d, int) else 1 for d in shape]
        return arrays[name if name in arrays else "x"][i].reshape(shape)

    return [{name: sample(name, shape, i) for name, shape in metas} for i in range(count)]


def _elapsed_ns(call, sample) -> int:
    start = time.perf_counter_ns()
    call(sample)
    return time.perf_counter_ns() - start


def _round(engines, threads: int) -> list[list[int]]:
    """One round: each engine ``(call, samples)`` on each of its samples (ns); sample by
    sample in turn at one thread, else engine by engine (a pause and a call to wake its
    thread pool first)."""
    if threads == 1:
        count = max(len(samples) for _, samples in engines)
        spans: list[list[int]] = [[] for _ in engines]
        for i in range(count):
            for k, (call, samples) in enumerate(engines):
                spans[k].append(_elapsed_ns(call, samples[i % len(samples)]))
        return spans
    blocks = []
    for call, samples in engines:
        time.sleep(SETTLE_SECONDS)  # the other engine's workers stop spinning
        call(samples[0])
        spans: list[int] = []
        started = time.perf_counter()
        while not spans or time.perf_counter() - started < BLOCK_MIN_SECONDS:
            spans += [_elapsed_ns(call, sample) for sample in samples]
        blocks.append(spans)
    return blocks


def side_by_side(library, model, data, threads, rounds=30, other=None, other_data=None) -> dict:
    """Median ms of the library, onnxruntime (and ``other``) over the same samples."""
    import numpy as np
    import onnxruntime as ort
    import tvm

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    metas = [(m.name, m.shape) for m in session.get_inputs()]
    feeds = inputs(data, metas)
    tensors = [[tvm.runtime.tensor(v) for v in feed.values()] for feed in feeds]
    runs = [(load_vm(library, threads), tensors)]
    if other:  # the float twin: same input shape, its own (float) samples
        twin = inputs(other_data, [("x", metas[0][1])])
        runs.append((load_vm(other, threads), [[tvm.runtime.tensor(f["x"])] for f in twin]))
    engines = [(lambda sample, run=run: run(*sample), tensors) for run, tensors in runs]
    engines.append((lambda feed: session.run(None, feed), feeds))
    times: list[list[int]] = [[] for _ in engines]
    wanted, done, started = max(2, rounds // len(feeds)), 0, time.monotonic()
    while done < wanted or (
        threads > 1 and done < BLOCK_ROUNDS and time.monotonic() - started < BLOCK_SECONDS
    ):
        for k, spans in enumerate(_round(engines, threads)):
            times[k] += spans
        done += 1
    medians = [float(np.median(t)) / 1e6 for t in times]
    result = {"edgec_ms": medians[0], "onnxruntime_ms": medians[-1]}
    if other:
        result["other_ms"] = medians[1]
    return result


def main(argv: list[str]) -> None:
    library, model, data, threads = argv[:4]
    rounds = int(argv[4]) if len(argv) > 4 else 30
    other, other_data = (argv[5], argv[6]) if len(argv) > 6 else (None, None)
    print(json.dumps(side_by_side(library, model, data, int(threads), rounds, other, other_data)))


if __name__ == "__main__":
    main(sys.argv[1:])
