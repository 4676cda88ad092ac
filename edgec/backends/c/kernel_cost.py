"""How many instructions an int8 matrix layer takes on each kernel family, by weight storage:
the model the storage policy compares (``weight_storage.choose``, policy "auto").

The constants are fitted to per-step instruction counts of the optimized kernels on the
emulated boards (QEMU ``-icount``, ``validate --profile``; VWW's pruned 1x1 layers for sparse
storage, KWS's 1x1 layers clustered to 16 values for clustered storage), per output element:

    cost = per_mac * k + per_output              dense, clustered
    cost = per_entry * entries / n + per_output  sparse (entries: stored non-zeros and fillers)

plus ``per_input`` for every input value of a pixel (the DSP kernels widen rows to int16)
and ``per_layer`` once (the call; a clustered layer's table expanded into scratch). "dsp" is
the Cortex-M4/M7/M33 family (fast_*.c), "mve" the Helium one (mve_*.c), "scalar" the RV32
and Cortex-M0 paths of the DSP layouts (fast_scalar.h), fitted on riscv32-virt (VWW's pruned
1x1 layers, KWS clustered to 16 values) and taken for the M0 too. A layer of one row (a
batch-1 fully connected layer) runs other kernels on the DSP cores: ``ONE_ROW``, fitted on
mps2-an386 to the AD autoencoder's ten layers (k and n from 8 to 640) and KWS's classifier
(four channels per pass), layers of 10x256, 6x104 and 22x64 with 16 values (other shapes)
and a 64x256 layer at 5, 10 and 20 % non-zeros (sparse).
"""

from __future__ import annotations

# kind -> (per MAC or per entry, per output, per input value of a pixel, per layer)
Cost = tuple[float, float, float, float]
COSTS: dict[str, dict[str, Cost]] = {
    "dsp": {
        "dense": (1.05, 10.0, 1.5, 0.0),  # edgec_gemm2_dsp: 15 instructions per 16 products
        "sparse": (4.5, 48.0, 0.0, 0.0),  # compact_int.c, per stored entry
        # fast_int4_gemm.c's table loops: 33 instructions per 32 products over four rows,
        # the table expanded in C
        "clustered": (1.1, 12.0, 3.0, 1800.0),
    },
    "mve": {
        "dense": (0.14, 6.0, 0.0, 0.0),  # edgec_quads2_mve: 16 instructions per 128 products
        "sparse": (4.1, 48.0, 0.0, 0.0),
        "clustered": (3.5, 10.0, 0.0, 0.0),
    },
    "scalar": {
        "dense": (3.0, 25.0, 0.0, 0.0),  # gemm_quad_rv32: 2.9 per MAC, the requantization in C
        "sparse": (7.0, 53.0, 0.0, 0.0),
        "clustered": (12.9, 10.0, 0.0, 0.0),
    },
}
# one row: (four channels per pass, other shapes). Dense: fast_gemm.c's quad stream (20
# instructions per 16 products; n and k multiples of 4), else its pair GEMM's plain C for a
# lone row; sparse: compact_int.c's rows alone (7 per entry); clustered: fast_lut_fc1.c (50
# per 32: a table load and an SMLAD per code byte, the table expanded in assembly; n a
# multiple of 4), else fast_int4_gemm.c's table loops (26 per 16, the table expanded in C)
ONE_ROW: dict[str, dict[str, tuple[Cost, Cost]]] = {
    "dsp": {
        "dense": ((1.28, 10.7, 0.2, 70.0), (2.63, 22.5, 0.0, 120.0)),
        "sparse": ((7.0, 62.0, 0.0, 0.0), (7.0, 62.0, 0.0, 0.0)),
        "clustered": ((1.58, 10.8, 3.4, 554.0), (2.0, 10.0, 0.0, 1950.0)),
    },
}


def layer_cost(core: str, kind: str, n: int, k: int, pixels: int, entries: int = 0) -> float:
    """Estimated instructions of a layer with ``n`` outputs of ``k`` products per pixel (or
    row) over ``pixels`` pixels, its weights stored as ``kind``."""
    one_row = ONE_ROW.get(core, {}).get(kind) if pixels == 1 else None
    if one_row is not None:
        quads = n % 4 == 0 and (k % 4 == 0 or kind != "dense")
        per, per_output, per_input, per_layer = one_row[0 if quads else 1]
    else:
        per, per_output, per_input, per_layer = COSTS[core][kind]
    work = per * entries if kind == "sparse" else per * n * k
    return pixels * (work + per_output * n + per_input * k) + per_layer
