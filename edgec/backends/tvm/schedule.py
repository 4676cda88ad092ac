"""CPU schedules for the TIR functions of a build: what TVM 0.27 lacks for CPUs.

Relax's CPU pipeline schedules nothing (one scalar loop nest per fused op); DLight's CPU
rules cover GEMV and softmax/norm-like reductions only, and MetaSchedule needs a search.
These rules give every function a schedule at compile time, DLight-style:

- ``TiledKernel``: the convolutions and fully connected layers of ``kernels.py``: a register
  tile of ``W`` output pixels × ``T`` output channels (``T`` a multiple of the vector width)
  accumulated in registers over the whole reduction, the fused epilogue (bias, activation,
  residual add, requantization) applied to the tile before it is stored, the tile loop
  parallel.
- ``WinogradKernel``: ``winograd.py``'s convolutions (their matrix products as ``TiledKernel``
  tiles, the transforms unrolled and vectorized over channels), a row of output tiles at a
  time from input to output where the weights fit in cache.
- ``PooledReduction``: windows and means over NHWC (the channel loop innermost, vectorized).
- DLight's own ``cpu.Reduction`` for softmax-like functions (reducing the innermost axis).
- ``Injective``: everything elementwise (fused loops, parallel outer, vectorized inner).
"""

from __future__ import annotations

import logging

from edgec.backends.tvm import kernels, winograd
from edgec.backends.tvm.cpu import CpuInfo

log = logging.getLogger(__name__)

# Work (output elements × reduction) below which a loop nest runs on one thread: a parallel
# launch costs a few microseconds.
PARALLEL_MIN_WORK = 1 << 15
# An elementwise block's annotation: what one of its elements costs in plain elementwise
# operations, counted as that much work against PARALLEL_MIN_WORK.
ELEMENT_COST_ATTR = "edgec_element_cost"
SPARE_REGISTERS = 4  # vector registers a tile leaves for weights and broadcast inputs
# An accumulator tile under this many bytes is a stack array (registers after LLVM), larger
# ones a TVMBackendAllocWorkspace call per tile (TVM lowers only small "global" allocations to
# the stack).
STACK_BYTES = 1024
# Transformed Winograd weights up to this size (half a core's L2 here) are read once per row
# of output tiles; larger ones once per convolution (ResNet-18's 3x3 layers of 256 and 512
# channels: 4 and 16 MB).
ROW_FUSED_WEIGHT_BYTES = 512 * 1024


def default_rules(cpu: CpuInfo) -> list:
    """The rules, in the order they are tried on each function."""
    from tvm.s_tir import dlight

    return [
        WinogradKernel(cpu).rule(),
        TiledKernel(cpu).rule(),
        Small(cpu).rule(),
        # Before DLight's rule, which would take a mean over NHWC's H and W too, one strided
        # scalar chain per channel (a squeeze-excitation mean at 112x112: 1.1 ms).
        PooledReduction(cpu).rule(),
        dlight.cpu.Reduction(),
        Injective(cpu).rule(),
    ]


def _extent(sch, loop) -> int | None:
    value = sch.get(loop).extent
    try:
        return int(value)
    except TypeError:
        return None


class BlockInfo:
    """A block of an unscheduled function: one loop per block variable, in order."""

    def __init__(self, sch, block_rv):
        self.block_rv = block_rv
        # iter_type 0: data parallel ("S"), 2: reduction ("R"); anything else: "O"
        kinds = {0: "S", 2: "R"}
        self.kinds = "".join(kinds.get(int(v.iter_type), "O") for v in sch.get(block_rv).iter_vars)

    def dom_kind(self) -> str:
        return self.kinds

    def is_injective(self) -> bool:
        return set(self.kinds) <= {"S"}


def _blocks(sch) -> list[BlockInfo]:
    """Every block under the root, in program order (None if loops and blocks do not
    correspond one to one, as in a function scheduled already)."""
    root = sch.get_sblock("root")
    infos = [BlockInfo(sch, b) for b in sch.get_child_blocks(root)]
    for info in infos:
        if len(sch.get_loops(info.block_rv)) != len(info.kinds) or "O" in info.kinds:
            return []
    return infos


def _work(sch, block) -> int:
    total = 1
    for loop in sch.get_loops(block):
        total *= _extent(sch, loop) or 1
    return total


def _vector_factor(extent: int, lanes: int) -> int:
    """The widest vector (up to four registers) that divides ``extent``; 1 if none does."""
    for factor in (4 * lanes, 2 * lanes, lanes, lanes // 2, lanes // 4):
        if factor >= 2 and extent % factor == 0:
            return factor
    return 1


def _uses(expr, var) -> bool:
    from tvm.tirx.analysis import undefined_vars

    return any(v.same_as(var) for v in undefined_vars(expr, []))


def _access(sch, block) -> str:
    """How the block's buffers are indexed: "same" (every buffer by exactly the block's
    variables: the loops can be fused and vectorized as one), "inner" (the innermost
    variable is the last index of every buffer that uses it: vectorize that loop), or
    "strided" (vectorizing would gather: left to LLVM)."""
    stmt = sch.get(block)
    names = [v.var for v in stmt.iter_vars]
    same = inner = True
    for region in [*stmt.reads, *stmt.writes]:
        mins = [r.min for r in region.region]
        if len(mins) != len(names) or not all(m.same_as(v) for m, v in zip(mins, names)):
            same = False
        last = names[-1]
        if any(_uses(m, last) for m in mins[:-1]) or (
            mins and _uses(mins[-1], last) and not mins[-1].same_as(last)
        ):
            inner = False
    return "same" if same else "inner" if inner else "strided"


def schedule_injective(sch, block, cpu: CpuInfo) -> None:
    """One elementwise block: vectorized inside where the accesses are contiguous, the
    outer loops fused and parallel when there is enough work."""
    loops = sch.get_loops(block)
    if not loops:
        return
    work = _work(sch, block) * int(sch.get(block).annotations.get(ELEMENT_COST_ATTR, 1))
    access = _access(sch, block)
    if access == "same":
        loops = [sch.fuse(*loops)] if len(loops) > 1 else loops
    factor = _vector_factor(_extent(sch, loops[-1]) or 1, cpu.f32_lanes)
    outer = loops[:-1]
    if access != "strided" and factor > 1:
        head, inner = sch.split(loops[-1], [None, factor])
        sch.vectorize(inner)
        outer = [*outer, head]
    elif access == "strided" and len(loops) > 1:
        outer = loops[:-1]
    if work >= PARALLEL_MIN_WORK and outer:
        fused = sch.fuse(*outer) if len(outer) > 1 else outer[0]
        if (_extent(sch, fused) or 1) > 1:
            sch.parallel(fused)


class _Rule:
    def __init__(self, cpu: CpuInfo):
        self.cpu = cpu

    def rule(self):
        from tvm.s_tir.dlight import ScheduleRule

        apply = self.apply

        class Rule(ScheduleRule):
            def apply(self, func, target, tunable):
                from tvm.s_tir import ScheduleError

                try:
                    return apply(func)
                except ScheduleError as exc:  # the next rule (or none) takes the function
                    log.debug("%s: %s", type(self).__name__, str(exc).splitlines()[-1])
                    return None

            def is_target_available(self, target) -> bool:
                return target.kind.name == "llvm"

        Rule.__name__ = type(self).__name__
        return Rule()

    def apply(self, func):
        raise NotImplementedError


class Small(_Rule):
    """Functions too small to gain from any schedule (a softmax over a few classes, a
    reshape): left as their loop nests, which LLVM optimizes on its own."""

    LIMIT = 4096  # iterations of the largest loop nest

    def apply(self, func):
        from tvm import s_tir

        sch = s_tir.Schedule(func)
        infos = _blocks(sch)
        if not infos or max(_work(sch, b.block_rv) for b in infos) > self.LIMIT:
            return None
        return sch


class Injective(_Rule):
    """Functions of elementwise, broadcast and layout blocks."""

    def apply(self, func):
        from tvm import s_tir
        from tvm.s_tir.dlight.base import try_inline

        sch = s_tir.Schedule(func)
        infos = _blocks(sch)
        if not infos or not all(b.is_injective() for b in infos):
            return None
        for info in try_inline(sch, infos):
            schedule_injective(sch, info.block_rv, self.cpu)
        return sch


def _reads_innermost_spatial(sch, block, kinds: str) -> bool:
    """Whether every buffer the reduction reads has its last spatial variable as its last
    index (channels of NHWC, reduced over H and W), not a reduced one (a softmax row)."""
    stmt = sch.get(block)
    last = next(v.var for v, kind in zip(reversed(stmt.iter_vars), reversed(kinds)) if kind == "S")
    for region in stmt.reads:
        index = region.region[-1].min if region.region else None
        if index is None or not index.same_as(last):
            return False
    return True


class PooledReduction(_Rule):
    """Reductions whose innermost output axis is contiguous (NHWC pooling, means over
    H and W): the reduction loops move outside it, and it is vectorized."""

    def apply(self, func):
        from tvm import s_tir

        sch = s_tir.Schedule(func)
        infos = _blocks(sch)
        if not infos or all(b.is_injective() for b in infos):
            return None
        for info in infos:
            if info.is_injective():
                schedule_injective(sch, info.block_rv, self.cpu)
                continue
            kinds = info.dom_kind()
            if "S" not in kinds or not _reads_innermost_spatial(sch, info.block_rv, kinds):
                return None
            loops = sch.get_loops(info.block_rv)
            spatial = [loop for loop, kind in zip(loops, kinds) if kind == "S"]
            reduction = [loop for loop, kind in zip(loops, kinds) if kind == "R"]
            work = _work(sch, info.block_rv)
            inner = spatial[-1]
            sch.reorder(*spatial[:-1], *reduction, inner)
            extent = _extent(sch, inner) or 1
            factor = _vector_factor(extent, self.cpu.f32_lanes)
            if factor > 1:
                inner_outer, inner_vec = sch.split(inner, [None, factor])
                sch.reorder(*spatial[:-1], inner_outer, *reduction, inner_vec)
                outer = [*spatial[:-1], inner_outer]
            else:
                outer = spatial[:-1]
            if outer:
                head = sch.fuse(*outer) if len(outer) > 1 else outer[0]
                if work >= PARALLEL_MIN_WORK:
                    sch.parallel(head)
            if factor > 1:
                sch.vectorize(inner_vec)
            init = sch.decompose_reduction(info.block_rv, reduction[0])
            if factor > 1:
                sch.vectorize(sch.get_loops(init)[-1])
        return sch


class TiledKernel(_Rule):
    """``kernels.py``'s convolutions and fully connected layers with their epilogues."""

    def apply(self, func):
        from tvm import s_tir

        sch = s_tir.Schedule(func)
        infos = _blocks(sch)
        main = next((b for b in infos if self._tile(sch, b.block_rv)), None)
        if main is None:
            return None
        position = infos.index(main)
        producers = infos[:position]
        if self._reads_padding_inline(sch, main, producers):
            sch.compute_inline(producers[0].block_rv)
        else:
            for info in producers:  # the padding (and any producer): elementwise
                schedule_injective(sch, info.block_rv, self.cpu)
        self._schedule_main(sch, main, infos[position + 1 :])
        return sch

    @staticmethod
    def _reads_padding_inline(sch, main, producers) -> bool:
        """Whether a depthwise convolution reads its input through the padding's bounds
        check instead of from a padded copy. The check does not depend on the channel, so
        it costs a compare per tap and vector, while the copy streams the map through memory
        twice more: MobileNetV2 at 224, one thread, a call of each of its ten depthwise
        functions took 1.35 ms with the copy (longer than the convolution at 112x112x96),
        0.86 ms without. A
        convolution's check would sit in its loop over input channels: left to the copy."""
        return len(producers) == 1 and sch.get(main.block_rv).name_hint == "edgec_dwconv"

    @staticmethod
    def _tile(sch, block) -> int:
        value = sch.get(block).annotations.get(kernels.TILE_ATTR)
        return int(value) if value is not None else 0

    def _schedule_main(self, sch, main, epilogue) -> None:
        block = main.block_rv
        kinds = main.dom_kind()
        loops = sch.get_loops(block)
        spatial = [loop for loop, kind in zip(loops, kinds) if kind == "S"]
        reduction = [loop for loop, kind in zip(loops, kinds) if kind == "R"]
        parallel = _work(sch, block) >= PARALLEL_MIN_WORK
        self.register_tile(sch, block, spatial[:-2], spatial[-2], spatial[-1], reduction,
                           epilogue, parallel)  # fmt: skip

    def register_tile(
        self, sch, block, outer_spatial, pixels, channel, reduction, epilogue=(), parallel=False
    ) -> None:
        """Tile ``block`` (``pixels`` x ``channel`` accumulated over ``reduction``) into
        registers, its ``epilogue`` blocks fused into the tile's store; the loop over tiles
        (``outer_spatial`` and both tile indices fused) parallel if ``parallel``."""
        from tvm.s_tir import ScheduleError

        cpu = self.cpu
        stmt = sch.get(block)
        tile = self._tile(sch, block)
        lanes = cpu.f32_lanes
        vectors = max(1, -(-tile // lanes))
        budget = max(1, (cpu.registers - SPARE_REGISTERS) // vectors)
        stack_pixels = max(1, (STACK_BYTES - 1) // (4 * tile))
        width = _pixel_tile(_extent(sch, pixels) or 1, min(budget, 8, stack_pixels))

        pixel_outer, pixel_inner = sch.split(pixels, [None, width])
        channel_outer, channel_inner = sch.split(channel, [None, tile])
        heads = [*outer_spatial, pixel_outer]
        if self._weights_first(sch, stmt):
            order = [channel_outer, *heads]
        else:
            order = [*heads, channel_outer]
        sch.reorder(*order, *reduction, pixel_inner, channel_inner)
        head = sch.fuse(*order)
        # The tile is computed into registers, then stored through the fused epilogue.
        store = sch.cache_write(block, 0, "global")
        sch.reverse_compute_at(store, head, preserve_unit_loops=True)
        # Elementwise steps inlined forward into their consumers first (SiLU's sigmoid and
        # the add both read by the multiply): the last block then reads the accumulator
        # only, and is inlined backwards into the tile's store. TVM's reverse inlining of a
        # block whose result has two consumers leaves a buffer undefined.
        kept = []
        for info in epilogue[:-1]:
            try:
                sch.compute_inline(info.block_rv)
            except ScheduleError:
                kept.append(info)
        epilogue = [*kept, *epilogue[-1:]]
        shape = _written_shape(stmt)
        # A broadcast consumer (a squeeze-excitation scale) crashes TVM's inliner rather
        # than raising ScheduleError, and inlining the blocks before it leaves their buffers
        # undefined: such an epilogue is left whole to the elementwise schedule.
        broadcast = any(_written_shape(sch.get(info.block_rv)) != shape for info in epilogue)
        for position, info in enumerate(epilogue):
            try:
                if broadcast:
                    raise ScheduleError("not elementwise")
                sch.reverse_compute_inline(info.block_rv)
            except ScheduleError:  # not one-to-one: the rest run as loop nests of their own
                for rest in epilogue[position:]:
                    schedule_injective(sch, rest.block_rv, cpu)
                break
        store_loops = sch.get_loops(store)
        below = [sch.get(loop).same_as(sch.get(head)) for loop in store_loops].index(True) + 1
        store_loops = store_loops[below:]
        if store_loops:
            self._vectorize_tile(sch, store_loops[-1], tile)
            for loop in store_loops[:-1]:
                sch.unroll(loop)
        sch.unroll(pixel_inner)
        self._vectorize_tile(sch, channel_inner, tile)
        if parallel and (_extent(sch, head) or 1) > 1:
            sch.parallel(head)  # before the reduction's init is split off: TVM checks its writer
        init = sch.decompose_reduction(block, reduction[0])
        init_loops = sch.get_loops(init)
        self._vectorize_tile(sch, init_loops[-1], tile)

    def _vectorize_tile(self, sch, loop, tile: int) -> None:
        """Vectorize a tile's channel loop in whole registers: a tile that is no multiple
        of the vector width (24 channels on 16 lanes) as unrolled narrower vectors, since
        LLVM shuffles an odd-sized vector element by element (a 24-channel projection ran
        at a fifth of the speed of its neighbours)."""
        lanes = self.cpu.f32_lanes
        width = next((w for w in (lanes, lanes // 2, lanes // 4) if w and tile % w == 0), tile)
        if width >= tile:
            sch.vectorize(loop)
            return
        outer, inner = sch.split(loop, [None, width])
        sch.unroll(outer)
        sch.vectorize(inner)

    @staticmethod
    def _weights_first(sch, stmt) -> bool:
        """Loop over channel tiles outside pixel tiles when the weights outweigh the input
        (deep layers): each weight tile is then read once from memory."""
        sizes = [_elements(region.source) for region in stmt.reads]
        if len(sizes) < 2:
            return False
        return sizes[1] > sizes[0]


class WinogradKernel(_Rule):
    """``winograd.py``'s convolutions. Where the transformed weights fit in a core's cache,
    one parallel loop over rows of 2x2 output tiles runs the whole convolution for its row:
    the input transform (vectorized over channels, its 4x4 window unrolled), the 16 matrix
    products (register tiles, as ``TiledKernel``'s) and the output transform with the
    epilogue (unrolled: the selects fold away). A thread then reads the transformed row it
    just wrote, from its own cache, and no transform runs serially between two parallel
    loops. Larger weights take three loop nests instead, the products over all tiles at once
    (each weight read once from memory)."""

    def apply(self, func):
        from tvm import s_tir

        sch = s_tir.Schedule(func)
        infos = _blocks(sch)
        marked = [b for b in infos if winograd.WINOGRAD_ATTR in sch.get(b.block_rv).annotations]
        if len(marked) != 1:
            return None
        main = marked[0]
        position = infos.index(main)
        before, after = infos[:position], infos[position + 1 :]
        for info in before[:-1]:  # the padding: read through by the input transform
            sch.compute_inline(info.block_rv)
        for info in after[:-1]:  # the output transform and the epilogue, into the last
            sch.compute_inline(info.block_rv)
        transform, output = before[-1].block_rv, after[-1].block_rv
        weights = sch.get(main.block_rv).reads[1].source
        if _elements(weights) * weights.dtype.bits // 8 <= ROW_FUSED_WEIGHT_BYTES:
            self._by_rows(sch, transform, main.block_rv, output)
        else:
            self._by_steps(sch, transform, main.block_rv, output)
        return sch

    def _by_rows(self, sch, transform, product, output) -> None:
        """One parallel loop over the images' rows of 2x2 tiles (IC's 32x32 maps: the
        second thread cut 2-thread latency from 0.16 to 0.11 ms, against 0.16 with the
        transforms as loop nests of their own, run serially below ``PARALLEL_MIN_WORK``)."""
        n, row, _, y, z, channel = self._output_tiles(sch, output)
        head = sch.fuse(n, row)
        sch.compute_at(product, head)
        sch.compute_at(transform, head)
        if _work(sch, product) >= PARALLEL_MIN_WORK and (_extent(sch, head) or 1) > 1:
            sch.parallel(head)
        self._unroll_inner(sch, [y, z], channel)
        a, b, *rest = sch.get_loops(transform)[1:]
        self._unroll_inner(sch, [a, b], rest[-1])
        *outer, cols, channels, reduction = sch.get_loops(product)[1:]
        TiledKernel(self.cpu).register_tile(sch, product, outer, cols, channels, [reduction])

    def _by_steps(self, sch, transform, product, output) -> None:
        """The input transform, the products over all tiles and the output transform as
        three loop nests, each parallel above ``PARALLEL_MIN_WORK``."""
        self._transform(sch, transform, [0, 1])
        a, b, *tiles, channels, reduction = sch.get_loops(product)
        pixels = sch.fuse(*tiles)
        parallel = _work(sch, product) >= PARALLEL_MIN_WORK
        TiledKernel(self.cpu).register_tile(
            sch, product, [a, b], pixels, channels, [reduction], parallel=parallel
        )
        self._output_tiles(sch, output)
        self._transform(sch, output, [3, 4])

    @staticmethod
    def _output_tiles(sch, output) -> list:
        """The last block's ``[N, H, W, C]`` loops as N, tile rows, tile columns, the 2x2
        pixels of a tile, C."""
        n, h, w, channel = sch.get_loops(output)
        row, y = sch.split(h, [None, 2])
        col, z = sch.split(w, [None, 2])
        sch.reorder(n, row, col, y, z, channel)
        return [n, row, col, y, z, channel]

    def _unroll_inner(self, sch, unrolled, channel) -> None:
        """``unrolled`` unrolled, innermost but for ``channel``, which is vectorized."""
        for loop in unrolled:
            sch.unroll(loop)
        factor = _vector_factor(_extent(sch, channel) or 1, self.cpu.f32_lanes)
        if factor > 1:
            _, vector = sch.split(channel, [None, factor])
            sch.vectorize(vector)

    def _transform(self, sch, block, unrolled: list[int]) -> None:
        """The loops at ``unrolled`` moved inside, unrolled; the last (channels) vectorized;
        the others fused outermost, parallel."""
        loops = sch.get_loops(block)
        inner = [loops[i] for i in unrolled]
        outer = [loop for i, loop in enumerate(loops[:-1]) if i not in unrolled]
        sch.reorder(*outer, *inner, loops[-1])
        self._unroll_inner(sch, inner, loops[-1])
        head = sch.fuse(*outer) if len(outer) > 1 else outer[0]
        if _work(sch, block) >= PARALLEL_MIN_WORK:
            sch.parallel(head)


def _elements(buffer) -> int:
    count = 1
    for dim in buffer.shape:
        count *= int(dim)
    return count


def _written_shape(stmt) -> list[int]:
    return [int(d) for d in stmt.writes[0].source.shape]


def _pixel_tile(extent: int, limit: int) -> int:
    """Output pixels per register tile: a divisor of ``extent`` near ``limit``, else
    ``limit`` itself (the last tile is then partial, its pixels guarded)."""
    divisor = max(d for d in range(1, min(extent, limit) + 1) if extent % d == 0)
    return divisor if 2 * divisor > min(extent, limit) else min(extent, limit)
