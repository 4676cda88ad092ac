"""ONNX in: read and check a model file, upgrade old opset forms, convert to the IR and infer
every shape with the registry's rules."""

from edgec.frontend.onnx_import import load_model, read_model

__all__ = ["load_model", "read_model"]
