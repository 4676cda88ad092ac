"""ONNX → IR: read the file, fix dynamic dims, build values and nodes, upgrade, infer shapes."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import AttributeProto, numpy_helper

from edgec.errors import ModelError, ShapeError, show_name
from edgec.frontend.upgrade import upgrade_graph
from edgec.ir.dtypes import is_supported_elem_type, np_dtype
from edgec.ir.graph import Graph, Node, Value
from edgec.ops.shapes import check_tensor_size, infer_shapes

log = logging.getLogger(__name__)

OLDEST_OPSET = 6
# Refuse files that claim more than this before reading them into memory.
MAX_MODEL_BYTES = 2**31


def load_model(
    source: str | os.PathLike | onnx.ModelProto,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    notices: list[str] | None = None,
    problems: dict[str, str] | None = None,
) -> Graph:
    """Read an ONNX model into a ``Graph`` with static shapes.

    ``input_shapes`` fixes the dims of named inputs. A symbolic batch dim (dim 0) defaults
    to 1 and adds a line to ``notices``; any other symbolic dim must be given. With
    ``problems`` (``edgec analyze``), nodes edgec cannot take are listed there, not raised.
    """
    notices = notices if notices is not None else []
    model = read_model(source) if not isinstance(source, onnx.ModelProto) else source
    return model_to_graph(model, dict(input_shapes or {}), notices, problems)


def read_model(path: str | os.PathLike) -> onnx.ModelProto:
    """Load and parse an ONNX file (external data from its folder); ``ModelError`` if unusable."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such file")
    size = path.stat().st_size
    if size == 0:
        raise ModelError(f"{path}: the file is empty")
    if size > MAX_MODEL_BYTES:
        raise ModelError(f"{path}: {size} bytes is larger than the 2 GiB ONNX protobuf limit")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError and friends
        raise ModelError(
            f"{path}: not a valid ONNX file, truncated or corrupt ({_one_line(exc)})"
        ) from None
    _check_model_proto(model, str(path))
    try:
        onnx.external_data_helper.load_external_data_for_model(model, str(path.parent))
    except Exception as exc:
        raise ModelError(f"{path}: cannot read external weight data ({_one_line(exc)})") from None
    return model


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200] if text else type(exc).__name__


# Far beyond any model for a microcontroller or a small Linux board (MobileNets have ~100
# nodes, a BERT-base export ~2,000); a larger graph is refused before any work on it.
MAX_NODES = 10_000


def _check_model_proto(model: onnx.ModelProto, where: str) -> None:
    """Reject protobufs that parsed but are not models (protobuf accepts many byte strings)."""
    if model.ir_version <= 0 or not model.HasField("graph"):
        raise ModelError(f"{where}: not an ONNX model (no IR version or graph)")
    if not model.graph.output:
        raise ModelError(f"{where}: the graph has no outputs")
    if len(model.graph.node) > MAX_NODES:
        raise ModelError(
            f"{where}: {len(model.graph.node):,} nodes, more than the {MAX_NODES:,} edgec accepts"
        )
    _check_names_are_text(model.graph, where)


def _text(value: str | bytes) -> str:
    """A descriptive string (doc string, metadata): invalid UTF-8 is replaced, not fatal."""
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


def _check_names_are_text(g: onnx.GraphProto, where: str) -> None:
    """ONNX's protobuf is proto2: a name that is not valid UTF-8 parses as bytes."""
    named = [*g.input, *g.output, *g.initializer, *g.value_info]
    for item in named:
        if not isinstance(item.name, str):
            raise ModelError(f"{where}: a tensor name is not valid UTF-8 text ({item.name!r})")
    for index, node in enumerate(g.node):
        attributes = [a.name for a in node.attribute]
        for text in (node.name, node.op_type, node.domain, *node.input, *node.output, *attributes):
            if not isinstance(text, str):
                raise ModelError(
                    f"{where}: node {index} has a name that is not valid UTF-8 text ({text!r})"
                )


def default_opset(model: onnx.ModelProto) -> int:
    versions = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if not versions:
        return 1 if model.ir_version < 3 else 0
    return max(versions)


def model_to_graph(
    model: onnx.ModelProto,
    input_shapes: dict,
    notices: list[str],
    problems: dict[str, str] | None = None,
) -> Graph:
    _check_model_proto(model, "model")
    opset = default_opset(model)
    if opset < OLDEST_OPSET:
        raise ModelError(
            f"opset {opset} is older than the oldest edgec reads ({OLDEST_OPSET}); "
            "upgrade it with onnx.version_converter"
        )
    g = model.graph
    initializers = {t.name for t in g.initializer}
    runtime_inputs = [i for i in g.input if i.name not in initializers]
    unknown = set(input_shapes) - {i.name for i in runtime_inputs}
    if unknown:
        names = ", ".join(show_name(n) for n in sorted(unknown))
        raise ShapeError(f"--input-shape names no model input: {names}")
    products = _attention_products(g, initializers)
    fixed = {
        i.name: _resolve_input_shape(i, input_shapes.get(i.name), notices, products)
        for i in runtime_inputs
    }

    inferred = _onnx_inferred_types(model, fixed)
    graph = Graph(_text(g.name) or "model", opset)
    graph.doc_string = _text(model.doc_string) or _text(g.doc_string)
    graph.metadata = {_text(p.key): _text(p.value) for p in model.metadata_props}

    for tensor in g.initializer:
        graph.add_value(Value(tensor.name, None, None, const=_tensor_to_array(tensor)))
        graph.value(tensor.name).dtype = graph.value(tensor.name).const.dtype
        graph.value(tensor.name).shape = graph.value(tensor.name).const.shape
    if g.sparse_initializer:
        raise ModelError("sparse initializers are not supported")
    for vi in runtime_inputs:
        elem = vi.type.tensor_type.elem_type
        value = graph.add_value(Value(vi.name, np_dtype(elem), fixed[vi.name]))
        graph.inputs.append(value)

    _add_nodes(graph, g.node, inferred)
    for vi in g.output:
        if not graph.has_value(vi.name):
            raise ModelError(f"graph output {show_name(vi.name)} is never produced")
        graph.outputs.append(graph.value(vi.name))
    graph.topo_sort()
    upgrade_graph(graph, opset)
    graph.opset = 21
    _refuse_defaulted_time_axis(
        graph, {i.name for i in runtime_inputs if _dim0_defaulted(i, input_shapes)}
    )
    infer_shapes(graph, problems)
    _drop_unused_constants(graph)
    return graph


def _attention_products(g: onnx.GraphProto, initializers: set[str]) -> list[str]:
    """Names of the MatMul nodes that multiply two computed tensors (attention's products):
    their shapes follow the token count, which a C build must know."""
    constants = initializers | {o for n in g.node if n.op_type == "Constant" for o in n.output}
    return [
        n.name or n.output[0]
        for n in g.node
        if n.op_type == "MatMul" and not constants & set(n.input[:2])
    ]


def _symbolic_dim_error(name: str, vi, dims, i: int, label: str, products: list[str]):
    if not products:
        hint = f"give it with --input-shape {_cli_name(vi.name)}=D0,D1,…"
        return ShapeError(f"input {name} dim {i} ({show_name(label)}) is symbolic; {hint}")
    template = [
        "N" if k == i else str(d.dim_value) if d.dim_value > 0 else "1" for k, d in enumerate(dims)
    ]
    more = f" (and {len(products) - 1} more)" if len(products) > 1 else ""
    return ShapeError(
        f"input {name} dim {i} ({show_name(label)}) is symbolic: attention's product MatMul "
        f"{show_name(products[0])}{more} needs a fixed token count; give it with "
        f"--input-shape {_cli_name(vi.name)}={','.join(template)} (N tokens)"
    )


def _resolve_input_shape(
    vi: onnx.ValueInfoProto,
    given: Sequence[int] | None,
    notices: list[str],
    products: list[str] = (),
):
    name = show_name(vi.name)
    if not vi.type.HasField("tensor_type"):
        raise ModelError(f"input {name} is not a tensor")
    np_dtype(vi.type.tensor_type.elem_type, what=f"input {name}")  # raises for STRING and such
    has_shape = vi.type.tensor_type.HasField("shape")
    dims = list(vi.type.tensor_type.shape.dim) if has_shape else None
    if given is not None:
        given = tuple(int(d) for d in given)
        if dims is not None and len(dims) != len(given):
            raise ShapeError(
                f"input {name} has rank {len(dims)}, --input-shape gives {len(given)} dims"
            )
        for i, (d, g) in enumerate(zip(dims or [], given)):
            if d.HasField("dim_value") and d.dim_value > 0 and d.dim_value != g:
                raise ShapeError(f"input {name} dim {i} is {d.dim_value}, --input-shape gives {g}")
        if any(g <= 0 for g in given):
            raise ShapeError(f"input {name}: --input-shape dims must be positive")
        check_tensor_size(given, f"input {name}")
        return given
    hint = f"give it with --input-shape {_cli_name(vi.name)}=D0,D1,…"
    if dims is None:
        raise ShapeError(f"input {name} has no shape; {hint}")
    shape = []
    for i, d in enumerate(dims):
        if d.HasField("dim_value") and d.dim_value > 0:
            shape.append(d.dim_value)
            continue
        label = d.dim_param or "?"
        if i == 0:
            notices.append(f"input {name}: symbolic batch dim {show_name(label)} set to 1")
            shape.append(1)
            continue
        raise _symbolic_dim_error(name, vi, dims, i, label, products)
    check_tensor_size(shape, f"input {name}")
    return tuple(shape)


def _dim0_defaulted(vi: onnx.ValueInfoProto, given: Mapping) -> bool:
    """Whether dim 0 of input ``vi`` is symbolic and was set to 1 (not given)."""
    dims = vi.type.tensor_type.shape.dim
    return vi.name not in given and len(dims) > 0 and not dims[0].dim_value > 0


def _refuse_defaulted_time_axis(graph: Graph, defaulted: set[str]) -> None:
    """A symbolic dim 0 defaults to a batch of 1; read as the time axis of a time-major
    LSTM/GRU it would silently make a one-step sequence: refuse it, naming the node."""
    for node in graph.nodes:
        x = node.input(0)
        time_major = node.attrs.get("layout", 0) == 0
        recurrent = node.op_type in ("LSTM", "GRU", "RNN") and not node.domain
        if recurrent and time_major and x is not None and x.name in defaulted:
            raise ShapeError(
                f"{node.op_type} node {show_name(node.name)}: the sequence length (dim 0 "
                f"of input {show_name(x.name)}) is symbolic; give it with --input-shape "
                f"{_cli_name(x.name)}=T,B,I"
            )


def _cli_name(name: str) -> str:
    """The name as typed after --input-shape: plain names bare, others quoted and escaped."""
    return name if re.fullmatch(r"[\w.:/-]+", name) else show_name(name)


def _onnx_inferred_types(model: onnx.ModelProto, fixed: dict[str, tuple]) -> dict[str, tuple]:
    """Dtype and shape of every value as ONNX's own inference sees them (best effort)."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for vi in probe.graph.input:
        if vi.name in fixed:
            del vi.type.tensor_type.shape.dim[:]
            for d in fixed[vi.name]:
                vi.type.tensor_type.shape.dim.add().dim_value = d
    for tensor in probe.graph.initializer:  # keep only the metadata: inference needs no data
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            del tensor.external_data[:]
            tensor.data_location = onnx.TensorProto.DEFAULT
    try:
        probe = onnx.shape_inference.infer_shapes(probe, strict_mode=False, data_prop=True)
    except Exception as exc:
        log.debug("onnx shape inference failed: %s", exc)
        return {}
    found = {}
    for vi in [*probe.graph.value_info, *probe.graph.output]:
        tt = vi.type.tensor_type
        if not vi.type.HasField("tensor_type") or not is_supported_elem_type(tt.elem_type):
            continue
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        shape = tuple(dims) if tt.HasField("shape") and None not in dims else None
        found[vi.name] = (np_dtype(tt.elem_type), shape)
    return found


def _tensor_to_array(tensor: onnx.TensorProto) -> np.ndarray:
    name = show_name(tensor.name)
    dtype = np_dtype(tensor.data_type, what=f"initializer {name}")
    if tensor.HasField("raw_data") and tensor.data_location != onnx.TensorProto.EXTERNAL:
        count = int(np.prod(tensor.dims, dtype=np.int64))
        # 4-bit types are packed two to a byte
        need = (
            (count + 1) // 2
            if tensor.data_type == onnx.TensorProto.INT4
            else count * dtype.itemsize
        )
        if len(tensor.raw_data) != need:
            raise ModelError(
                f"initializer {name}: raw data holds {len(tensor.raw_data)} bytes, dims "
                f"{list(tensor.dims)} of {dtype} need {need}"
            )
    try:
        array = numpy_helper.to_array(tensor)
    except Exception as exc:
        raise ModelError(f"initializer {name}: unreadable data ({_one_line(exc)})") from None
    if array.shape != tuple(tensor.dims):
        raise ModelError(f"initializer {name}: data does not match dims {list(tensor.dims)}")
    return np.asarray(array, order="C")


def attribute_value(attr: AttributeProto):
    """An attribute as a Python value; subgraphs and the like stay as the raw proto."""
    kind = attr.type
    if kind == AttributeProto.INT:
        return int(attr.i)
    if kind == AttributeProto.FLOAT:
        return float(attr.f)
    if kind == AttributeProto.STRING:
        return attr.s.decode("utf-8", errors="replace")
    if kind == AttributeProto.INTS:
        return [int(v) for v in attr.ints]
    if kind == AttributeProto.FLOATS:
        return [float(v) for v in attr.floats]
    if kind == AttributeProto.STRINGS:
        return [s.decode("utf-8", errors="replace") for s in attr.strings]
    if kind == AttributeProto.TENSOR:
        return _tensor_to_array(attr.t)
    return attr  # GRAPH, SPARSE_TENSOR, TYPE_PROTO…: opaque, only ever re-exported


def _add_nodes(graph: Graph, nodes, inferred: dict[str, tuple]) -> None:
    produced = {o for n in nodes for o in n.output if o}
    taken_names: set[str] = set()
    for index, proto in enumerate(nodes):
        name = base = proto.name or f"{proto.op_type}_{index}"
        suffix = index
        while name in taken_names:  # duplicate names would break every later lookup by name
            name = f"{base}_{suffix}"
            suffix += 1
        taken_names.add(name)
        inputs: list[Value | None] = []
        for in_name in proto.input:
            if not in_name:
                inputs.append(None)
                continue
            if not graph.has_value(in_name) and in_name not in produced:
                raise ModelError(
                    f"{proto.op_type} node {show_name(name)} reads {show_name(in_name)}, "
                    "which no node, input or initializer defines"
                )
            if not graph.has_value(in_name):
                graph.add_value(Value(in_name, *inferred.get(in_name, (None, None))))
            inputs.append(graph.value(in_name))
        outputs = []
        for i, out_name in enumerate(proto.output):
            if not out_name:
                out_name = graph.unique_name(f"{name}_unused_{i}")
            existing = graph._values.get(out_name)
            if existing is not None and (
                existing.producer is not None or existing.is_const or existing in graph.inputs
            ):
                raise ModelError(f"value {show_name(out_name)} is defined twice")
            if existing is None:
                existing = graph.add_value(Value(out_name, *inferred.get(out_name, (None, None))))
            outputs.append(existing)
        attrs = {a.name: attribute_value(a) for a in proto.attribute}
        node = graph.add_node(proto.op_type, inputs, outputs, attrs, name)
        node.domain = "" if proto.domain == "ai.onnx" else proto.domain


def _drop_unused_constants(graph: Graph) -> None:
    for value in list(graph.values()):
        if value.is_const and not value.users and not graph.is_output(value):
            graph.remove_value(value)


__all__ = ["Node", "load_model", "read_model"]
