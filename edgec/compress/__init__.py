"""Compression of a model before code generation, driven by calibration data (post-training).

- ``structured``: ``--prune channels:RATIO``, ``--prune-budget``, ``--lowrank`` on the float
  graph (channels removed, layers factored, then re-fitted by least squares); the per-layer
  before/after report ``compression.json``.
- ``weights``: ``--prune magnitude:…`` (float weights zeroed, survivors re-fitted) and
  ``--cluster K`` (int8 weights reduced to K values); ``pruning.json``, ``clustering.json``.
  The C backend stores such weights compactly (backends/c/weight_storage.py).

The passes themselves live in ``edgec/passes/``; these modules choose and run them.
"""

from edgec.compress.structured import compress_graph, wants_compression
from edgec.compress.weights import cluster_weights, prune_magnitude

__all__ = ["cluster_weights", "compress_graph", "prune_magnitude", "wants_compression"]
