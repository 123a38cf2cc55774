"""`verify(graph)`: structural, shape and bit-width checks; returns every node's output shape."""

import numpy as np

from ..errors import IRError
from ._bits import fits, int_range
from ._nodes import ENCODINGS, NODE_TYPES, CaLIF, Conv2d, Dense, Flatten, IF, ILIF, STBIF, Scale, Source, SumPool2d

__all__ = ["verify", "out_shape"]

MAX_V_BITS = 48  # the golden simulator keeps state in float64: exact below 2^53


def _fail(name, msg):
    raise IRError(f"node '{name}': {msg}")


def _check_fits(name, field, values, bits):
    if not fits(values, bits):
        lo, hi = int_range(bits)
        _fail(name, f"{field} must fit int{bits} [{lo}, {hi}], not values in "
                    f"[{int(np.min(values))}, {int(np.max(values))}]")


def _check_width(name, field, bits, lo=2, hi=MAX_V_BITS):
    if not isinstance(bits, (int, np.integer)) or not lo <= bits <= hi:
        _fail(name, f"{field} must be an integer in [{lo}, {hi}], not {bits!r}")


def out_shape(name, node, in_shape):
    """Output shape of synapse `node` given its input shape (IRError on a mismatch)."""
    if isinstance(node, Dense):
        if node.W.ndim != 2:
            _fail(name, f"W must be 2-D (out, in), not shape {node.W.shape}")
        if in_shape != (node.W.shape[1],):
            _fail(name, f"input shape must be ({node.W.shape[1]},), not {in_shape}")
        return (node.W.shape[0],)
    if isinstance(node, Conv2d):
        if node.W.ndim != 4:
            _fail(name, f"W must be 4-D (C_out, C_in/groups, kh, kw), not shape {node.W.shape}")
        cout, cin_g, kh, kw = node.W.shape
        if len(in_shape) != 3 or in_shape[0] != cin_g * node.groups or cout % node.groups:
            _fail(name, f"input shape must be ({cin_g * node.groups}, H, W), not {in_shape}")
        (sh, sw), (ph, pw) = node.stride, node.padding
        h, w = (in_shape[1] + 2 * ph - kh) // sh + 1, (in_shape[2] + 2 * pw - kw) // sw + 1
        if h < 1 or w < 1 or min(sh, sw) < 1 or min(ph, pw) < 0:
            _fail(name, f"kernel {(kh, kw)}, stride {node.stride}, padding {node.padding} "
                        f"do not fit input {in_shape}")
        return (cout, h, w)
    if isinstance(node, SumPool2d):
        (kh, kw), (sh, sw) = node.kernel, node.stride
        if len(in_shape) != 3 or in_shape[1] < kh or in_shape[2] < kw or min(kh, kw, sh, sw) < 1:
            _fail(name, f"input shape must be (C, H>={kh}, W>={kw}), not {in_shape}")
        return (in_shape[0], (in_shape[1] - kh) // sh + 1, (in_shape[2] - kw) // sw + 1)
    if isinstance(node, Scale):
        try:
            np.broadcast_to(node.w, in_shape)
        except ValueError:
            _fail(name, f"w of shape {node.w.shape} must broadcast to input shape {in_shape}")
        return tuple(in_shape)
    if isinstance(node, Flatten):
        return (int(np.prod(in_shape)),)
    raise IRError(f"node '{name}': unknown synapse type {type(node).__name__!r}")


def _check_params(name, node):
    if isinstance(node, Source):
        if node.encoding not in ENCODINGS:
            _fail(name, f"encoding must be one of {ENCODINGS}, not {node.encoding!r}")
        _check_width(name, "x_bits", node.x_bits, hi=32)
        if node.encoding == "analog" and node.R < 1:
            _fail(name, f"R must be >= 1, not {node.R}")
        if node.encoding in ("rate", "bits") and node.T < 1:
            _fail(name, f"T must be >= 1 for {node.encoding} encoding, not {node.T}")
        return
    if hasattr(node, "w_bits"):
        _check_width(name, "w_bits", node.w_bits, hi=32)
        for field, arr in node.arrays().items():
            _check_fits(name, field, arr, node.w_bits)
    if node.ROLE not in ("neuron", "readout"):
        return
    _check_width(name, "v_bits", node.v_bits)
    for field, arr in node.arrays().items():
        try:
            np.broadcast_to(arr, node.shape)
        except ValueError:
            _fail(name, f"{field} of shape {arr.shape} must broadcast to the node shape {node.shape}")
        _check_fits(name, field, arr, node.v_bits)
    if node.ROLE == "neuron" and np.any(node.theta <= 0):
        _fail(name, f"theta must be > 0, not min {int(node.theta.min())}")
    if isinstance(node, (STBIF, IF, CaLIF)):
        _check_width(name, "s_bits", node.s_bits)
    if isinstance(node, STBIF):
        if not node.s_min <= 0 <= node.s_max:
            _fail(name, f"s_min <= 0 <= s_max must hold, not s_min={node.s_min}, s_max={node.s_max}")
        _check_fits(name, "s_min/s_max", [node.s_min, node.s_max], node.s_bits)
    if isinstance(node, (STBIF, IF)) and node.bias_R < 1:
        _fail(name, f"bias_R must be >= 1, not {node.bias_R}")
    if isinstance(node, (ILIF, CaLIF)) and node.T < 1:
        _fail(name, f"T must be >= 1, not {node.T}")
    if isinstance(node, (IF, CaLIF)) and node.s_max < 0:
        _fail(name, f"s_max must be >= 0 (0 = unbounded), not {node.s_max}")


def verify(graph):
    """Check `graph`; raise IRError naming the node or edge at fault. Returns {name: shape}."""
    if not graph.nodes:
        raise IRError(f"graph '{graph.name}' has no nodes")
    for name, node in graph.nodes.items():
        if type(node).__name__ not in NODE_TYPES or NODE_TYPES[type(node).__name__] is not type(node):
            raise IRError(f"node '{name}': unknown type {type(node).__name__!r}; "
                          f"expected one of {sorted(NODE_TYPES)}")
        _check_params(name, node)
    for e in graph.edges:
        for end in (e.src, e.dst):
            if end not in graph.nodes:
                raise IRError(f"edge {e.src!r} -> {e.dst!r}: node {end!r} does not exist")
        if e.delay not in (0, 1):
            raise IRError(f"edge {e.src!r} -> {e.dst!r}: delay must be 0 or 1, not {e.delay!r}")
        src, dst = graph.nodes[e.src], graph.nodes[e.dst]
        if e.delay and src.ROLE not in ("source", "neuron"):
            raise IRError(f"edge {e.src!r} -> {e.dst!r}: a delay is allowed only on edges "
                          f"leaving a Source or neuron, not a {src.type}")
        if src.ROLE == "readout":
            raise IRError(f"edge {e.src!r} -> {e.dst!r}: a Readout has no outputs")
        if dst.ROLE == "source":
            raise IRError(f"edge {e.src!r} -> {e.dst!r}: a Source has no inputs")
        if dst.ROLE in ("neuron", "readout") and src.ROLE != "synapse":
            raise IRError(f"edge {e.src!r} -> {e.dst!r}: a {dst.type} takes input only "
                          f"through synapses, not from a {src.type}")
    if not graph.sources:
        raise IRError(f"graph '{graph.name}' has no Source node")
    if not graph.readouts:
        raise IRError(f"graph '{graph.name}' has no Readout node")
    shapes = {}
    for name in graph.topo_order():
        node, ins = graph.nodes[name], graph.inputs_of(name)
        if node.ROLE == "source":
            shapes[name] = node.shape
        elif node.ROLE == "synapse":
            if len(ins) != 1:
                _fail(name, f"a synapse must have exactly 1 input, not {len(ins)}")
            if not graph.outputs_of(name):
                _fail(name, "synapse output is not connected to anything")
            shapes[name] = out_shape(name, node, shapes[ins[0].src])
        else:
            if not ins:
                _fail(name, f"missing input: no synapse ends in this {node.type}")
            for e in ins:
                if shapes[e.src] != node.shape:
                    _fail(name, f"input from '{e.src}' has shape {shapes[e.src]}, "
                                f"expected the node shape {node.shape}")
            shapes[name] = node.shape
    return shapes
