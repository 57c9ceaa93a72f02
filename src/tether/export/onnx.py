"""A learner's greedy policy as an ONNX model, for serving without Python, JAX or tether.

`save_policy(learner, "policy.onnx")` traces what `learner.predict` computes (observation scaling,
the algorithm's greedy `act`, the action bounds) with a symbolic batch size, and translates the
traced program into ONNX operators (opset 13). The file is written directly as protobuf, so
exporting needs neither `onnx` nor `torch`; onnxruntime, or any ONNX runtime, runs it:

    session = onnxruntime.InferenceSession("policy.onnx")
    actions = session.run(None, {"observations": observations.astype(np.float32)})[0]

Inputs: `observations` `[batch, obs_dim]` float32, and for a discrete learner exported with
`action_masks=True` also `action_masks` `[batch, n_actions]` bool. Output: `actions`, float32
`[batch, action_dim]` in the logged bounds, or int32 `[batch]` action ids.

What exports: every learner whose greedy action is a deterministic function of the state (BC,
TD3+BC, IQL, CQL, and the discrete learners). BCQ's greedy action draws VAE latents from a
generator keyed by the state, which ONNX cannot express; exporting it raises `ValueError`.
d3rlpy's `save_policy` writes TorchScript or ONNX through torch; its ONNX export fails on torch
2.13 without `onnxscript` (see shared/reference/d3rlpy.md).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.core import ClosedJaxpr, Jaxpr, Literal, Var

from tether._atomic import write_atomically
from tether._protobuf import int_field, length_delimited, text_field, varint

if TYPE_CHECKING:
    from tether.algos.engine import Learner

OPSET = 13
IR_VERSION = 7  # the IR of opset 13
_ONNX_TYPES = {np.dtype(np.float32): 1, np.dtype(np.int32): 6, np.dtype(np.int64): 7, np.dtype(np.bool_): 9}


# ---------------------------------------------------------------------------- ONNX messages
def _tensor(name: str, array: np.ndarray) -> bytes:
    """TensorProto: dims=1, data_type=2, name=8, raw_data=9 (little-endian)."""
    array = np.ascontiguousarray(array)
    if array.dtype not in _ONNX_TYPES:
        raise ValueError(f"cannot store a {array.dtype} tensor in ONNX here")
    dims = b"".join(int_field(1, d) for d in array.shape)
    return (dims + int_field(2, _ONNX_TYPES[array.dtype]) + text_field(8, name)
            + length_delimited(9, array.astype(array.dtype.newbyteorder("<")).tobytes()))


def _attribute(name: str, value: int | float | list[int]) -> bytes:
    """AttributeProto: name=1, f=2, i=3, ints=8, type=20 (FLOAT 1, INT 2, INTS 7)."""
    out = text_field(1, name)
    if isinstance(value, list):
        return out + b"".join(int_field(8, v) for v in value) + int_field(20, 7)
    if isinstance(value, float):
        return out + varint(2 << 3 | 5) + struct.pack("<f", value) + int_field(20, 1)
    return out + int_field(3, value) + int_field(20, 2)


def _value_info(name: str, dtype: np.dtype, shape: tuple[int | str, ...]) -> bytes:
    """ValueInfoProto{name=1, type=2: TypeProto{tensor_type=1: {elem_type=1, shape=2: {dim=1: ...}}}}."""
    dims = b"".join(length_delimited(1, text_field(2, d) if isinstance(d, str) else int_field(1, d))
                    for d in shape)
    tensor_type = int_field(1, _ONNX_TYPES[np.dtype(dtype)]) + length_delimited(2, dims)
    return text_field(1, name) + length_delimited(2, length_delimited(1, tensor_type))


def _node(node: _Node) -> bytes:
    """NodeProto: input=1, output=2, op_type=4, attribute=5."""
    inputs = b"".join(text_field(1, name) for name in node.inputs)
    outputs = b"".join(text_field(2, name) for name in node.outputs)
    attributes = b"".join(length_delimited(5, _attribute(k, v)) for k, v in node.attributes.items())
    return inputs + outputs + text_field(4, node.op) + attributes


# ---------------------------------------------------------------------------- graph building
class _Node(NamedTuple):
    op: str
    inputs: list[str]
    outputs: list[str]
    attributes: dict[str, Any]
    unsupported: str | None = None  # why this step cannot be exported (an error only if an output needs it)


class _Graph:
    """ONNX nodes and initializers being built from a traced program."""

    def __init__(self, batch_input: str):
        self.nodes: list[_Node] = []
        self.initializers: dict[str, np.ndarray] = {}
        self.batch_input = batch_input  # the input whose first dimension is the symbolic batch
        self._count = 0
        self._batch: str | None = None

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, array: Any) -> str:
        name = self.fresh("const")
        self.initializers[name] = np.asarray(array)
        return name

    def node(self, op: str, inputs: list[str], attributes: dict[str, Any] | None = None,
             unsupported: str | None = None) -> str:
        output = self.fresh(op.lower())
        self.nodes.append(_Node(op, inputs, [output], attributes or {}, unsupported))
        return output

    def batch_size(self) -> str:
        """`[1]` int64 tensor holding the runtime batch size."""
        if self._batch is None:
            shape = self.node("Shape", [self.batch_input])
            first = [self.const(np.array([0], np.int64)), self.const(np.array([1], np.int64))]
            self._batch = self.node("Slice", [shape, *first])
        return self._batch

    def shape(self, dims: tuple[Any, ...]) -> str:
        """An int64 shape tensor; the symbolic batch dimension is read at run time."""
        if all(isinstance(d, int) for d in dims):
            return self.const(np.array(dims, np.int64))
        parts = []
        for d in dims:
            if isinstance(d, int):
                parts.append(self.const(np.array([d], np.int64)))
            elif str(d) == "b":
                parts.append(self.batch_size())
            else:  # an error if the output depends on it (see `_live_nodes`)
                parts.append(self.node("Identity", [self.batch_input], unsupported=f"a batch-dependent shape {d}"))
        return self.node("Concat", parts, {"axis": 0})


_ELEMENTWISE = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "max": "Max", "min": "Min", "neg": "Neg",
                "tanh": "Tanh", "exp": "Exp", "log": "Log", "logistic": "Sigmoid", "abs": "Abs", "sqrt": "Sqrt",
                "eq": "Equal", "gt": "Greater", "lt": "Less", "ge": "GreaterOrEqual", "le": "LessOrEqual",
                "and": "And", "or": "Or", "not": "Not", "copy": "Identity", "copy_p": "Identity",
                "stop_gradient": "Identity"}


def _dtype(atom: Any) -> np.dtype:
    """The dtype of a traced variable or literal (a literal `0.0` in a float32 program is float32)."""
    return np.dtype(atom.aval.dtype)


def _emit(graph: _Graph, jaxpr: Jaxpr, inputs: list[str], consts: list[str] | None = None) -> list[str]:
    """Translate `jaxpr`'s equations; `inputs` (and `consts`) name its invars (and constvars).

    Returns the names of its outvars.
    """
    env: dict[Var, str] = dict(zip(jaxpr.invars, inputs, strict=True))
    env.update(zip(jaxpr.constvars, consts or [], strict=True))

    def read(atom: Any) -> str:
        if isinstance(atom, Literal):
            return graph.const(np.asarray(atom.val, _dtype(atom)))
        return env[atom]

    for eqn in jaxpr.eqns:
        args = [read(a) for a in eqn.invars]
        inner = next((eqn.params[k] for k in ("call_jaxpr", "jaxpr") if k in eqn.params), None)
        if inner is not None:  # jit, custom_jvp (relu) and custom_vjp (tether's matmul): inline their body
            closed = inner if isinstance(inner, ClosedJaxpr) else ClosedJaxpr(inner, [])
            outs = _emit(graph, closed.jaxpr, args, [graph.const(np.asarray(c)) for c in closed.consts])
        else:
            outs = [_primitive(graph, eqn, args)]
        env.update(zip(eqn.outvars, outs, strict=True))
    return [read(v) for v in jaxpr.outvars]


def _primitive(graph: _Graph, eqn: Any, args: list[str]) -> str:
    """The ONNX node(s) for one equation with a single output; returns the output's name."""
    name, params = eqn.primitive.name, eqn.params
    out_aval = eqn.outvars[0].aval
    if name in _ELEMENTWISE:
        return graph.node(_ELEMENTWISE[name], args)
    if name == "ne":
        return graph.node("Not", [graph.node("Equal", args)])
    if name == "integer_pow":
        return graph.node("Pow", [args[0], graph.const(np.asarray(params["y"], out_aval.dtype))])
    if name == "dot_general":
        (lhs_contract, rhs_contract), (lhs_batch, rhs_batch) = params["dimension_numbers"]
        lhs_rank = len(eqn.invars[0].aval.shape)
        if tuple(lhs_contract) == (lhs_rank - 1,) and tuple(rhs_contract) == (0,) and not lhs_batch and not rhs_batch \
                and len(eqn.invars[1].aval.shape) == 2:
            return graph.node("MatMul", args)
        return graph.node("Identity", args[:1], unsupported=f"dot_general with {params['dimension_numbers']}")
    if name == "reshape":
        return graph.node("Reshape", [args[0], graph.shape(tuple(params["new_sizes"]))])
    if name == "broadcast_in_dim":
        shape = tuple(params["shape"])
        aligned = [1] * len(shape)
        for operand_dim, out_dim in enumerate(params["broadcast_dimensions"]):
            aligned[out_dim] = eqn.invars[0].aval.shape[operand_dim]
        ranked = graph.node("Reshape", [args[0], graph.shape(tuple(aligned))])
        return graph.node("Expand", [ranked, graph.shape(shape)])
    if name == "squeeze":
        return graph.node("Squeeze", [args[0], graph.const(np.array(params["dimensions"], np.int64))])
    if name == "concatenate":
        return graph.node("Concat", args, {"axis": int(params["dimension"])})
    if name == "slice":
        starts, limits = params["start_indices"], params["limit_indices"]
        steps = params["strides"] or (1,) * len(starts)
        return graph.node("Slice", [args[0], graph.const(np.array(starts, np.int64)),
                                    graph.const(np.array(limits, np.int64)),
                                    graph.const(np.arange(len(starts), dtype=np.int64)),
                                    graph.const(np.array(steps, np.int64))])
    if name == "convert_element_type":
        return graph.node("Cast", args, {"to": _ONNX_TYPES[np.dtype(params["new_dtype"])]})
    if name == "clamp":  # clamp(low, x, high)
        return graph.node("Min", [graph.node("Max", [args[1], args[0]]), args[2]])
    if name == "select_n":  # cases[predicate]
        if len(args) != 3:
            return graph.node("Identity", args[1:2], unsupported="select_n with more than two cases")
        boolean = _dtype(eqn.invars[0]) == np.bool_
        predicate = args[0] if boolean else graph.node("Cast", [args[0]], {"to": 9})
        return graph.node("Where", [predicate, args[2], args[1]])
    if name == "argmax":
        index = graph.node("ArgMax", args, {"axis": int(params["axes"][0]), "keepdims": 0})
        return graph.node("Cast", [index], {"to": _ONNX_TYPES[np.dtype(params["index_dtype"])]})
    if name in ("reduce_max", "reduce_min"):
        op = "ReduceMax" if name == "reduce_max" else "ReduceMin"
        return graph.node(op, args, {"axes": [int(a) for a in params["axes"]], "keepdims": 0})
    if name == "reduce_sum":
        return graph.node("ReduceSum", [args[0], graph.const(np.array(params["axes"], np.int64))], {"keepdims": 0})
    return graph.node("Identity", args[:1], unsupported=name)


def _live_nodes(graph: _Graph, outputs: list[str]) -> list[_Node]:
    """The nodes the outputs depend on, in order (dead code such as unused random keys is dropped)."""
    needed, live = set(outputs), []
    for node in reversed(graph.nodes):
        if needed & set(node.outputs):
            live.append(node)
            needed.update(node.inputs)
    return live[::-1]


# ---------------------------------------------------------------------------- the policy
def greedy_function(learner: Learner, action_masks: bool) -> tuple[Callable, list[jax.ShapeDtypeStruct]]:
    """`learner.predict` as one JAX function of raw observations (and masks), with its input shapes."""
    spec, scaling = learner._require_built()
    if learner.n_seeds != 1:
        raise ValueError(f"the learner holds {learner.n_seeds} seeds; export one: learner.seed_learners()[i]")
    if action_masks and spec.discrete_actions is None:
        raise ValueError("action_masks: only discrete learners take masks")
    state = jax.tree.map(lambda x: x[0], learner.state)
    act, config = learner.algo.act, learner.config
    mean, std = jnp.asarray(scaling.observation_mean), jnp.asarray(scaling.observation_std)

    def greedy(observations: jax.Array, masks: jax.Array | None = None) -> jax.Array:
        scaled = (observations - mean) / std
        extra = {"action_masks": masks} if masks is not None else {}
        actions = act(state, scaled, jax.random.PRNGKey(0), config=config, deterministic=True, **extra)
        low, high = scaling.action_low, scaling.action_high
        if low is None or high is None:  # discrete: action ids
            return actions.astype(jnp.int32)
        return low + (actions + 1.0) * 0.5 * (high - low)

    batch = jax.export.symbolic_shape("b")[0]
    shapes = [jax.ShapeDtypeStruct((batch, spec.observation_dim), jnp.float32)]
    if action_masks:
        shapes.append(jax.ShapeDtypeStruct((batch, spec.n_actions), jnp.bool_))
    return greedy, shapes


def function_model(function: Callable, shapes: list[jax.ShapeDtypeStruct], input_names: list[str],
                   description: str) -> bytes:
    """The serialised ONNX model of a JAX function of batched inputs (`shapes`, batch axis symbolic), with
    one output named `actions`; raises `ValueError` naming any operation the export does not support."""
    closed = jax.make_jaxpr(function)(*shapes)
    graph = _Graph(batch_input=input_names[0])
    consts = [graph.const(np.asarray(c)) for c in closed.consts]
    (result,) = _emit(graph, closed.jaxpr, input_names, consts)
    out_aval = closed.jaxpr.outvars[0].aval
    graph.nodes.append(_Node("Identity", [result], ["actions"], {}))
    live = _live_nodes(graph, ["actions"])
    missing = sorted({node.unsupported for node in live if node.unsupported is not None})
    if missing:
        raise ValueError(f"{description}: uses operations ONNX export does not support ({', '.join(missing)})")
    used = {name for node in live for name in node.inputs}
    nodes = b"".join(length_delimited(1, _node(node)) for node in live)
    initializers = b"".join(length_delimited(5, _tensor(name, array))
                            for name, array in graph.initializers.items() if name in used)
    inputs = b"".join(length_delimited(11, _value_info(name, np.dtype(shape.dtype), ("batch", *shape.shape[1:])))
                      for name, shape in zip(input_names, shapes, strict=True))
    output = length_delimited(12, _value_info("actions", np.dtype(out_aval.dtype), ("batch", *out_aval.shape[1:])))
    body = nodes + text_field(2, description) + initializers + inputs + output
    opset = length_delimited(8, text_field(1, "") + int_field(2, OPSET))
    return int_field(1, IR_VERSION) + text_field(2, "tether") + length_delimited(7, body) + opset


def policy_model(learner: Learner, action_masks: bool = False) -> bytes:
    """The serialised ONNX model of `learner`'s greedy policy (see the module docstring)."""
    greedy, shapes = greedy_function(learner, action_masks)
    try:
        return function_model(greedy, shapes, ["observations", "action_masks"][: len(shapes)],
                              f"tether {learner.config.get_type()} greedy policy")
    except ValueError as err:
        raise ValueError(f"{learner.config.get_type()}: its greedy action {str(err).split(': ', 1)[1]}; save the "
                         "learner with save() instead") from None


def save_function(function: Callable, observation_dim: int, path: str | Path, description: str) -> Path:
    """Write a JAX function `observations [batch, observation_dim] -> actions` to `path` as ONNX, atomically
    (a controller or a zoo policy handed to another library as an expert)."""
    shapes = [jax.ShapeDtypeStruct((jax.export.symbolic_shape("b")[0], observation_dim), jnp.float32)]
    return write_atomically(Path(path), function_model(function, shapes, ["observations"], description))


def save_policy(learner: Learner, path: str | Path, action_masks: bool = False) -> Path:
    """Write `learner`'s greedy policy to `path` as ONNX, atomically (see the module docstring)."""
    path = Path(path)
    if path.suffix.lower() != ".onnx":
        raise ValueError(f"path: tether exports ONNX only (got {path.name!r}); TorchScript needs torch. "
                         "Name the file policy.onnx")
    return write_atomically(path, policy_model(learner, action_masks))
