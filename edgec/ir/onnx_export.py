"""IR → ONNX (opset 21): the processed graph as a model onnxruntime, Netron and TVM can read."""

from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import AttributeProto, helper, numpy_helper

from edgec.errors import ModelError
from edgec.ir.dtypes import onnx_type
from edgec.ir.graph import Graph, Node, Value

EXPORT_OPSET = 21
EXPORT_IR_VERSION = 10


def to_onnx(graph: Graph, producer: str = "edgec") -> onnx.ModelProto:
    """Build a ModelProto; fused activations become the separate nodes they were."""
    nodes: list[onnx.NodeProto] = []
    for node in graph.nodes:
        nodes.extend(_export_node(graph, node))
    initializers = [
        numpy_helper.from_array(np.asarray(v.const), v.name) for v in _used_constants(graph)
    ]
    inputs = [_value_info(v) for v in graph.inputs]
    outputs = [_value_info(v) for v in graph.outputs]
    io = {id(v) for v in (*graph.inputs, *graph.outputs)}
    value_info = [
        _value_info(v)
        for n in graph.nodes
        for v in n.outputs
        if id(v) not in io and v.shape is not None and v.dtype is not None
    ]
    proto = helper.make_graph(
        nodes, graph.name, inputs, outputs, initializers, value_info=value_info
    )
    model = helper.make_model(
        proto,
        opset_imports=[helper.make_opsetid("", EXPORT_OPSET)],
        producer_name=producer,
        ir_version=EXPORT_IR_VERSION,
    )
    model.doc_string = graph.doc_string
    for key, value in graph.metadata.items():
        model.metadata_props.add(key=key, value=value)
    return model


def save_onnx(graph: Graph, path: str | os.PathLike) -> None:
    onnx.save(to_onnx(graph), str(path))


def _used_constants(graph: Graph) -> list[Value]:
    used = {id(v) for n in graph.nodes for v in n.inputs if v is not None}
    used |= {id(v) for v in graph.outputs}
    return [v for v in graph.constants() if id(v) in used]


def _value_info(value: Value) -> onnx.ValueInfoProto:
    if value.dtype is None:
        raise ModelError(f"value {value.name!r} has no known dtype")
    return helper.make_tensor_value_info(value.name, onnx_type(value.dtype), value.shape)


def _attribute(name: str, value) -> AttributeProto:
    if isinstance(value, AttributeProto):
        copy = AttributeProto()
        copy.CopyFrom(value)
        copy.name = name
        return copy
    if isinstance(value, np.ndarray):
        return helper.make_attribute(name, numpy_helper.from_array(value))
    if isinstance(value, (list, tuple)) and not value:
        # An empty list has no inferable type; these are always ints in the ops we support.
        return helper.make_attribute(name, [], attr_type=AttributeProto.INTS)
    return helper.make_attribute(name, value)


def _export_node(graph: Graph, node: Node) -> list[onnx.NodeProto]:
    outputs = [v.name for v in node.outputs]
    extra: list[onnx.NodeProto] = []
    if node.fused is not None:
        final = outputs[0]
        outputs[0] = _fresh_name(graph, f"{final}_prefused")
        act_inputs = [outputs[0]]
        act_attrs: dict = {}
        if node.fused.op_type == "Clip":
            for key in ("min", "max"):
                bound = node.fused.attrs.get(key)
                act_inputs.append(f"{node.name}_fused_{key}" if bound is not None else "")
                if bound is not None:
                    tensor = numpy_helper.from_array(
                        np.asarray(bound, dtype=node.outputs[0].dtype), act_inputs[-1]
                    )
                    extra.append(helper.make_node("Constant", [], [act_inputs[-1]], value=tensor))
            while act_inputs[-1] == "":
                act_inputs.pop()
        else:
            act_attrs = dict(node.fused.attrs)
        extra.append(
            helper.make_node(
                node.fused.op_type, act_inputs, [final], name=f"{node.name}_fused", **act_attrs
            )
        )
    attrs = dict(node.attrs)
    if node.op_type == "Split" and node.input(1) is None and not attrs.get("num_outputs"):
        attrs["num_outputs"] = len(node.outputs)  # required at opset ≥ 18
    proto = helper.make_node(
        node.op_type,
        [v.name if v is not None else "" for v in node.inputs],
        outputs,
        name=node.name,
        domain=node.domain or None,
    )
    proto.attribute.extend(_attribute(k, v) for k, v in sorted(attrs.items()) if v is not None)
    return [proto, *extra]


def _fresh_name(graph: Graph, base: str) -> str:
    name = base
    i = 0
    while graph.has_value(name):
        i += 1
        name = f"{base}_{i}"
    return name
