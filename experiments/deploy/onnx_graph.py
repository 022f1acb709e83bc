"""Static check of an exported ONNX policy graph before onnxruntime sees it.

stocklab's ONNX export is a small feed-forward network: (optional) observation normalisation, dense
layers with activations, and the argmax over the action logits. A graph from elsewhere could ask
for much more: an input of 10^9 entries, tensors stored in outside files (which onnxruntime would
read from this machine), control flow, or a broadcast that turns a batch into gigabytes. So the
model's protobuf is read here with a minimal wire-format reader (no ``onnx`` package needed) and
refused unless:

* it has one input, float32 of shape (batch, n) with n the policy's observation size, and one
  output, int64 of shape (batch,), the argmax over exactly the env's action count;
* every node is a standard operator from :data:`ALLOWED_OPS`, no node carries a sub-graph, no
  tensor refers to outside data, no custom functions or domains;
* the static shapes (propagated here) keep every intermediate at most :data:`MAX_ROW` values per
  batch row, and the weights hold at most :data:`MAX_WEIGHTS` values.

ONNX's protobuf schema (onnx/onnx.proto) numbers the fields read here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from stocklab.envs.core.errors import PolicyError

#: Operators of a feed-forward policy (elementwise, dense layers, argmax, shape-preserving casts).
UNARY = {
    "Identity", "Cast", "Relu", "Tanh", "Sigmoid", "Elu", "LeakyRelu", "Selu", "Celu", "Erf", "Gelu",
    "Softplus", "Softsign", "HardSigmoid", "Neg", "Abs", "Exp", "Log", "Sqrt", "Clip", "Softmax",
}  # fmt: skip
BINARY = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min"}
ALLOWED_OPS = UNARY | BINARY | {"Constant", "Gemm", "MatMul", "Flatten", "ArgMax"}
#: Most values per batch row of any intermediate tensor.
MAX_ROW = 1 << 16
#: Most weight values (initializers and constants) of a graph.
MAX_WEIGHTS = 32_000_000
#: Highest opset of the standard domain accepted.
MAX_OPSET = 23
_FLOAT, _INT64 = 1, 7
B = "batch"  # the symbolic batch dimension


# ------------------------------------------------------------------------------- wire format
def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated or overlong varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(buf: memoryview) -> list[tuple[int, Any]]:
    """The (field number, value) pairs of one protobuf message.

    Values are ints for varints and fixed-size fields, byte views for length-delimited ones.
    """
    out, pos = [], 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = int.from_bytes(buf[pos : pos + 8], "little"), pos + 8
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + size], pos + size
        elif wire == 5:
            value, pos = int.from_bytes(buf[pos : pos + 4], "little"), pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if pos > len(buf):
            raise ValueError("truncated message")
        out.append((number, value))
    return out


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _ints(values: list[Any]) -> list[int]:
    """Repeated int64 values, packed (bytes) or not (ints)."""
    out: list[int] = []
    for v in values:
        if isinstance(v, int):
            out.append(_signed(v))
        else:
            pos = 0
            while pos < len(v):
                x, pos = _varint(v, pos)
                out.append(_signed(x))
    return out


def _text(v: Any) -> str:
    return bytes(v).decode("utf-8")


# ------------------------------------------------------------------------------- the model
@dataclass
class Node:
    """One graph node: operator, inputs, outputs and its integer attributes."""

    op: str
    domain: str
    inputs: list[str]
    outputs: list[str]
    ints: dict[str, int] = field(default_factory=dict)
    tensor: tuple[int, ...] | None = None  # a Constant's value shape


def _tensor_dims(buf: memoryview) -> tuple[tuple[int, ...], bool]:
    """(dims, stored outside) of a TensorProto."""
    f = _fields(buf)
    dims = tuple(_ints([v for n, v in f if n == 1]))
    external = any(n == 13 for n, _ in f) or any(n == 14 and v == 1 for n, v in f)
    return dims, external


def _constant_shape(name: str, a: list[tuple[int, Any]]) -> tuple[int, ...]:
    """The shape of a Constant node's value attribute ``name`` (fields ``a``)."""
    if name == "value":
        dims, external = _tensor_dims(next(v for k, v in a if k == 5))
        if external:
            raise PolicyError("Constant: a tensor stored outside the model file")
        return dims
    if name in ("value_float", "value_int"):
        return ()
    if name == "value_ints":
        return (len(_ints([v for k, v in a if k == 8])),)
    if name == "value_floats":
        return (sum(len(v) // 4 if not isinstance(v, int) else 1 for k, v in a if k == 7),)
    raise PolicyError(f"Constant: value attribute {name!r} is not allowed")


def _node(buf: memoryview) -> Node:
    f = _fields(buf)
    node = Node(
        op=next((_text(v) for n, v in f if n == 4), ""),
        domain=next((_text(v) for n, v in f if n == 7), ""),
        inputs=[_text(v) for n, v in f if n == 1],
        outputs=[_text(v) for n, v in f if n == 2],
    )
    for a in (_fields(v) for n, v in f if n == 5):
        name = next((_text(x) for k, x in a if k == 1), "")
        if {k for k, _ in a} & {6, 10, 11, 21, 22, 23}:
            raise PolicyError(
                f"node {node.op}: attribute '{name}' carries a sub-graph, tensors or a reference"
            )
        ints = [x for k, x in a if k == 3]
        if ints:
            node.ints[name] = _signed(ints[0])
        if node.op == "Constant":
            node.tensor = _constant_shape(name, a)
    return node


def _value_info(buf: memoryview) -> tuple[str, int, list[int | str]]:
    f = _fields(buf)
    name = next((_text(v) for n, v in f if n == 1), "")
    elem, dims = 0, []
    for n, v in f:
        if n != 2:
            continue
        for tn, tv in _fields(v):
            if tn != 1:
                continue
            for k, x in _fields(tv):
                if k == 1:
                    elem = x
                elif k == 2:
                    for dn, dv in _fields(x):
                        if dn == 1:
                            d = _fields(dv)
                            dims.append(next((_signed(y) for k2, y in d if k2 == 1), None) or B)
    return name, elem, dims


def parse(model: bytes) -> dict[str, Any]:
    """The parts of an ONNX ModelProto the check needs (PolicyError when it is malformed)."""
    try:
        top = _fields(memoryview(model))
        opsets: dict[str, int] = {}
        for n, v in top:
            if n == 8:
                entry = _fields(v)
                domain = next((_text(x) for k, x in entry if k == 1), "")
                opsets[domain] = next((x for k, x in entry if k == 2), 0)
        if any(n == 25 for n, _ in top):
            raise PolicyError("the model defines custom functions")
        graphs = [v for n, v in top if n == 7]
        if len(graphs) != 1:
            raise PolicyError("expected exactly one graph")
        g = _fields(graphs[0])
        if any(n == 15 for n, _ in g):
            raise PolicyError("sparse initializers are not allowed")
        inits = {}
        for n, v in g:
            if n == 5:
                dims, external = _tensor_dims(v)
                if external:
                    raise PolicyError("a weight tensor is stored outside the model file")
                name = next((_text(x) for k, x in _fields(v) if k == 8), "")
                inits[name] = dims
        return {
            "opsets": opsets,
            "nodes": [_node(v) for n, v in g if n == 1],
            "initializers": inits,
            "inputs": [_value_info(v) for n, v in g if n == 11],
            "outputs": [_value_info(v) for n, v in g if n == 12],
        }
    except (ValueError, UnicodeDecodeError, StopIteration) as exc:
        raise PolicyError(f"not a readable ONNX model ({exc})") from None


# ------------------------------------------------------------------------------- shapes
Shape = tuple[Any, ...]


def _row(shape: Shape) -> int:
    return math.prod(d for d in shape if d != B)


def _broadcast(a: Shape, b: Shape) -> Shape:
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    out = []
    for x, y in zip(a, b):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            raise PolicyError(f"shapes {a} and {b} do not broadcast")
    return tuple(out)


def _gemm(node: Node, shapes: list[Shape]) -> Shape:
    a, w = shapes[0], shapes[1]
    if node.ints.get("transA", 0) or len(a) != 2 or a[0] != B or len(w) != 2 or B in w:
        raise PolicyError(f"{node.op}: expected (batch, k) times a (k, n) weight matrix")
    k, n = (w[1], w[0]) if node.ints.get("transB", 0) else (w[0], w[1])
    if a[1] != k:
        raise PolicyError(f"{node.op}: inner sizes {a[1]} and {k} differ")
    if len(shapes) > 2:
        _broadcast((B, n), shapes[2])
    return (B, n)


def _shape_of(node: Node, shapes: list[Shape]) -> Shape:
    """The output shape of one node from its input shapes (PolicyError for anything unexpected)."""
    op = node.op
    if op == "Constant":
        if node.tensor is None:
            raise PolicyError("Constant: no tensor value")
        return node.tensor
    if op in UNARY:
        return shapes[0]
    if op in BINARY:
        return _broadcast(shapes[0], shapes[1])
    if op == "Gemm" or op == "MatMul":
        return _gemm(node, shapes)
    if op == "Flatten":
        x = shapes[0]
        if node.ints.get("axis", 1) != 1 or not x or x[0] != B:
            raise PolicyError("Flatten: only axis 1 of a (batch, ...) tensor")
        return (B, _row(x))
    if op == "ArgMax":
        x = shapes[0]
        if len(x) != 2 or x[0] != B or node.ints.get("axis", 0) not in (1, -1):
            raise PolicyError("ArgMax: expected the argmax over axis 1 of (batch, actions)")
        return (B,) if node.ints.get("keepdims", 1) == 0 else (B, 1)
    raise PolicyError(f"operator {op!r} is not allowed")


def _infer(parts: dict[str, Any], shapes: dict[str, Shape]) -> dict[str, Shape]:
    """Propagate static shapes through the nodes in order; record the argmax's action count."""
    for node in parts["nodes"]:
        if node.domain not in ("", "ai.onnx") or node.op not in ALLOWED_OPS:
            raise PolicyError(
                f"operator {node.domain + '.' if node.domain else ''}{node.op!r} is not allowed"
            )
        try:
            ins = [shapes[i] for i in node.inputs if i]
        except KeyError as exc:
            raise PolicyError(f"{node.op}: input {exc} is not defined before it") from None
        if node.op != "Constant" and not ins:
            raise PolicyError(f"{node.op}: no inputs")
        out = _shape_of(node, ins)
        if _row(out) > MAX_ROW or B in out[1:]:
            raise PolicyError(
                f"{node.op}: an intermediate of shape {out} is too large (at most {MAX_ROW:,} per row)"
            )
        if node.op == "ArgMax":
            shapes["<actions>"] = (ins[0][1],)
        for name in node.outputs[:1]:
            shapes[name] = out
    return shapes


def check_graph(model: bytes, obs_size: int, actions: int, where: str) -> None:
    """Refuse an ONNX policy graph that is not a bounded feed-forward network (module docstring)."""
    try:
        parts = parse(model)
        if set(parts["opsets"]) - {"", "ai.onnx"} or max(parts["opsets"].values(), default=0) > MAX_OPSET:
            raise PolicyError(f"opsets {parts['opsets']}: only the standard domain up to opset {MAX_OPSET}")
        weights = sum(math.prod(d) for d in parts["initializers"].values())
        weights += sum(math.prod(n.tensor) for n in parts["nodes"] if n.tensor is not None)
        if weights > MAX_WEIGHTS:
            raise PolicyError(f"{weights:,} weights; at most {MAX_WEIGHTS:,} are allowed")
        inputs = [i for i in parts["inputs"] if i[0] not in parts["initializers"]]
        if len(inputs) != 1 or inputs[0][1] != _FLOAT or inputs[0][2] != [B, obs_size]:
            shown = [(n, e, d) for n, e, d in inputs]
            raise PolicyError(f"inputs {shown}: expected one float32 input of shape (batch, {obs_size})")
        shapes: dict[str, Shape] = {n: tuple(d) for n, d in parts["initializers"].items()}
        shapes[inputs[0][0]] = (B, obs_size)
        shapes = _infer(parts, shapes)
        outputs = parts["outputs"]
        if len(outputs) != 1 or outputs[0][1] != _INT64 or shapes.get(outputs[0][0]) != (B,):
            raise PolicyError("expected one int64 output of shape (batch,): the argmax over the actions")
        if shapes.get("<actions>") != (actions,):
            raise PolicyError(
                f"the argmax ranges over {shapes.get('<actions>')} actions; the env has {actions}"
            )
    except PolicyError as exc:
        raise PolicyError(f"{where}: {exc}") from None
