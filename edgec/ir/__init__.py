"""The IR: graph data structures and export back to ONNX (import is ``edgec.frontend``)."""

from edgec.ir.graph import FusedActivation, Graph, Node, QuantParams, Value
from edgec.ir.onnx_export import save_onnx, to_onnx

__all__ = ["FusedActivation", "Graph", "Node", "QuantParams", "Value", "save_onnx", "to_onnx"]
