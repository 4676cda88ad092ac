"""``validate --workers N``: the samples sharded over N devices (emulators or host builds) as
Ray tasks, on a local Ray started in-process or on a cluster (``--ray-address HOST:PORT``).

Shards are contiguous runs of samples, merged back in order, so the report is the one a single
device gives: the same outputs and per-sample counts (emulated counts are exact). A failing
shard keeps the samples before its failure and drops every later shard's, as a single device
would have stopped there. ``--profile`` runs on the shard holding the last sample.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import sys
from collections.abc import Callable
from contextlib import contextmanager

import numpy as np

from edgec.errors import EdgecError
from edgec.harness.run import DeviceRun

log = logging.getLogger(__name__)


def import_ray(address: str | None = None):
    """The ``ray`` module. For a cluster, token authentication is asked for before the import
    (Ray reads the mode then): clusters of Ray >= 2.59 started with ``ray start`` refuse a
    client that does not say it has a token, and token mode also joins a cluster without
    authentication (Ray reads the token from RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or
    ~/.ray/auth_token). A mode the user set is kept."""
    if address and "ray" not in sys.modules:
        os.environ.setdefault("RAY_AUTH_MODE", "token")
    try:
        import ray
    except ImportError:
        raise EdgecError(
            "parallel validation and `edgec tune` run on Ray: pip install 'edgec[tune]' "
            "(or pip install ray)"
        ) from None
    return ray


@contextmanager
def ray_session(address: str | None, workers: int):
    """Ray for the duration: the cluster at ``address``, or a local one of ``workers`` CPUs
    (afterwards the local Ray is shut down and the cluster disconnected, left running; a Ray
    this process had already initialized is reused and left as it was)."""
    ray = import_ray(address)
    started = False
    if not ray.is_initialized():
        started = True
        if address:
            _connect(ray, address)
        else:
            ray.init(
                address="local",  # a new Ray of our own, even beside a `ray start` cluster
                num_cpus=max(workers, 1),
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.ERROR,
            )
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def _connect(ray, address: str) -> None:
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
    except ConnectionError:
        raise EdgecError(
            f"cannot reach the Ray cluster at {address}: is `ray start --head` running there, "
            "with this machine's token (`ray get-auth-token` on the head node; RAY_AUTH_MODE=token "
            "in the environment)?"
        ) from None


def shard_bounds(count: int, workers: int) -> list[tuple[int, int]]:
    """Contiguous [start, stop) ranges, as equal as possible, none empty."""
    workers = max(1, min(workers, count))
    edges = np.linspace(0, count, workers + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges) if b > a]


def run_sharded(
    run_device: Callable,
    out_dir,
    manifest,
    dataset,
    options,
    workers: int,
    address: str | None = None,
) -> DeviceRun:
    """``run_device`` on each shard as a Ray task; the runs merged in sample order."""
    bounds = shard_bounds(len(dataset), workers)
    with ray_session(address, len(bounds)) as ray:
        task = ray.remote(num_cpus=1)(_run_shard)
        last = len(bounds) - 1
        futures = [
            task.remote(
                run_device,
                out_dir,
                manifest,
                dataset.subset(slice(start, stop)),
                dataclasses.replace(options, progress=False, profile=options.profile and k == last),
            )
            for k, (start, stop) in enumerate(bounds)
        ]
        runs = ray.get(futures)
    return merge_runs(runs, [start for start, _ in bounds])


def _run_shard(run_device: Callable, out_dir, manifest, dataset, options) -> DeviceRun:
    return run_device(out_dir, manifest, dataset, options)


def merge_runs(runs: list[DeviceRun], offsets: list[int]) -> DeviceRun:
    """One run from the shards' runs, in order, up to the first failure."""
    merged = DeviceRun(outputs=[], device=runs[0].device, memory=dict(runs[0].memory))
    merged.count_unit, merged.timing = runs[0].count_unit, runs[0].timing
    stacks = [r.memory.get("stack_bytes") for r in runs if r.memory.get("stack_bytes")]
    if stacks:
        merged.memory["stack_bytes"] = max(stacks)
    for run, offset in zip(runs, offsets):
        merged.outputs += run.outputs
        merged.counts += run.counts
        merged.layers += run.layers
        merged.profile = run.profile or merged.profile
        if run.error:
            merged.error = _shifted(run.error, offset)
            break
    return merged


def _shifted(error: str, offset: int) -> str:
    """``sample 3 (name): …`` of a shard as the whole data set's sample number."""
    head, sep, rest = error.partition(" ")
    number, space, tail = rest.partition(" ")
    if head == "sample" and sep and number.isdigit():
        return f"sample {int(number) + offset}{space}{tail}"
    return error
