"""How many instructions an int8 matrix layer takes on each kernel family, by weight storage:
the model the storage policy compares (``weight_storage.choose``, policy "auto").

The constants are fitted to per-step instruction counts of the optimized kernels on the
emulated boards (QEMU ``-icount``, ``bench/kernels.py``'s profiles; VWW's pruned 1x1 layers
for sparse storage, KWS clustered to 16 values for clustered storage), per output element:

    cost = per_mac * k + per_output              dense, clustered
    cost = per_entry * entries / n + per_output  sparse (entries: stored non-zeros and fillers)

plus, for the DSP dense kernels, ``per_input`` for every input value of a pixel (rows widened
to int16). "dsp" is the Cortex-M4/M7/M33 family (fast_*.c), "mve" the Helium one (mve_*.c),
"scalar" the RV32 and Cortex-M0 paths of the DSP layouts (fast_scalar.h), fitted on
riscv32-virt (VWW's pruned 1x1 layers, KWS clustered to 16 values) and taken for the M0 too.
"""

from __future__ import annotations

# kind -> (per MAC or per entry, per output, per input value of a pixel)
COSTS: dict[str, dict[str, tuple[float, float, float]]] = {
    "dsp": {
        "dense": (1.05, 10.0, 1.5),  # edgec_gemm2_dsp: 15 instructions per 16 products
        "sparse": (4.5, 48.0, 0.0),  # compact_int.c, per stored entry
        "clustered": (3.4, 10.0, 0.0),  # compact_int.c, 4-bit codes and a table
    },
    "mve": {
        "dense": (0.14, 6.0, 0.0),  # edgec_quads2_mve: 16 instructions per 128 products
        "sparse": (4.1, 48.0, 0.0),
        "clustered": (3.5, 10.0, 0.0),
    },
    "scalar": {
        "dense": (3.0, 25.0, 0.0),  # gemm_quad_rv32: 2.9 per MAC, the requantization in C
        "sparse": (7.0, 53.0, 0.0),
        "clustered": (12.9, 10.0, 0.0),
    },
}


def layer_cost(core: str, kind: str, n: int, k: int, pixels: int, entries: int = 0) -> float:
    """Estimated instructions of a layer with ``n`` outputs of ``k`` products per pixel (or
    row) over ``pixels`` pixels, its weights stored as ``kind``."""
    per, per_output, per_input = COSTS[core][kind]
    work = per * entries if kind == "sparse" else per * n * k
    return pixels * (work + per_output * n + per_input * k)
