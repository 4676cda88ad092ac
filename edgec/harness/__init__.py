"""Running generated models on devices and judging their outputs."""
