"""``CompileOptions``: everything ``edgec compile`` can be asked, one flat dataclass (the
command line's flags map onto its fields by name). Backends read the fields that concern them
and refuse values they cannot honour."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

QUANTIZE_MODES = ("none", "int8", "int16x8", "auto")


@dataclass
class CompileOptions:
    backend: str = "c"
    target: str | None = None
    prefix: str = "model"
    quantize: str | None = "none"
    calib: str | None = None
    rounding: str = "tflm"
    io_layout: str = "declared"
    # "auto": the optimized int8 kernels on cores with the DSP extension, else the portable.
    kernels: str = "auto"
    # "always": optimized kernels get their scratch memory (im2col rows) even where it grows
    # the arena; "free": only where it does not (the portable kernel runs instead), and the
    # convolutions and permutes at the peak are planned in place over their input (overlap.py)
    kernel_scratch: str = "always"
    # RAM against instructions: "fast" never trades instructions for RAM (layers are written
    # in place over their input only where their kernel runs no slower), "balanced" at most
    # +10 %, "min" the least RAM (as --kernel-scratch free, and every layer in place that helps)
    memory: str = "balanced"
    input_shapes: dict[str, Sequence[int]] = field(default_factory=dict)
    force: bool = False
    # Post-training quantization (``--quantize``): calibration data and how to read it.
    calib_method: str = "percentile"
    calib_samples: int | None = None
    calib_dtype: str | None = None
    calib_shape: tuple[int, ...] | None = None
    data_scale: float | None = None
    data_zero_point: int | None = None
    float_io: bool = False
    bias_correction: bool = True
    input_grid: bool = True  # float inputs on an int8 grid keep it (quantize/lattice.py)
    range_search: str = "pooled"  # ranges by downstream error: pooled|all|none (quantize/ranges.py)
    empirical_bias: bool = False  # biases re-solved on the integer inputs (quantize/correct.py)
    sqnr_threshold_db: float = 40.0
    # an integer node the backend cannot run in integer runs in float (DQ, float op, Q)
    float_fallback: bool = True
    # Compression before quantization (edgec/compress/), re-fitted on the --calib data:
    # "channels:RATIO" or "magnitude:SPARSITY[:global]" (weights zeroed, stored sparse).
    prune: str | None = None
    prune_budget: float | None = None  # points of top-1 agreement (or accuracy) to spend
    prune_metric: str = "agreement"
    prune_refit: bool = True  # refit magnitude-pruned layers to the unpruned model
    lowrank: str | None = None  # energy:E | rank:R
    # Clustering "K[:layer|:channel]" of int8 weights; the C backend's weight storage.
    cluster: str | None = None
    weight_storage: str = "auto"
    # Recurrent state (LSTM/GRU) kept in the arena across model_run calls, model_reset()
    # restarting it; ``stream_steps`` time steps per call (None: the model's sequence length;
    # calibration still runs whole sequences).
    stateful: bool = False
    stream_steps: int | None = None
    # Weights of int8 / int16x8 layers: 8 or 4 bits (int4, two per byte in flash), 5 to 7 bits
    # (int8 codes in a narrower range, for entropy-coded storage), or "auto" (4 bits where
    # the calibration data says it costs little); and how they are rounded:
    # "nearest", or "optimized" (GPTQ-style, quantize/rounding.py; None: optimized for 4 bits)
    weight_bits: int | str = 8
    weight_rounding: str | None = None
    # TVM builds: MetaSchedule trials on this computer (0: edgec's schedules, untuned; the
    # database is kept in OUT/tuning/ and applied again on recompiles into the same OUT)
    tune_trials: int = 0

    @property
    def rounding_method(self) -> str:
        """``weight_rounding`` resolved: "optimized" for 4-bit weights unless asked."""
        if self.weight_rounding is not None:
            return self.weight_rounding
        return "optimized" if str(self.weight_bits) in ("4", "auto") else "nearest"

    @property
    def quantizing(self) -> bool:
        """Whether post-training quantization was asked for (``None`` means "none")."""
        return self.quantize not in ("none", None)

    def recorded(self) -> dict:
        """The options as the manifest records them (``force`` says nothing of the build)."""
        recorded = {k: v for k, v in asdict(self).items() if k != "force"}
        if self.target is not None and not isinstance(self.target, str):
            recorded["target"] = self.target.name  # a Target object given through the API
        return recorded
