"""Quantization: fixed-point requantization helpers, integer reference kernels, QDQ lowering."""
