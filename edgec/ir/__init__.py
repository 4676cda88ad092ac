"""The IR: graph data structures, ONNX import and export, shape inference."""

from edgec.ir.graph import FusedActivation, Graph, Node, QuantParams, Value
from edgec.ir.onnx_export import save_onnx, to_onnx
from edgec.ir.onnx_import import load_model, read_model
from edgec.ir.shapes import infer_shapes

__all__ = [
    "FusedActivation",
    "Graph",
    "Node",
    "QuantParams",
    "Value",
    "infer_shapes",
    "load_model",
    "read_model",
    "save_onnx",
    "to_onnx",
]
