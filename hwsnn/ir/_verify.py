"""`verify(graph)`: param, structure, shape and bit-width checks (the rules listed in
docs/ir-format.md, "Loader rules"); returns every node's output shape."""

import math

import numpy as np

from ..errors import IRError
from ._bits import fits, int_range
from ._nodes import (NODE_TYPES, CUBALIF, CaLIF, Conv2d, Dense, Flatten, IF, MaxPool2d, STBIF,
                     Scale, Source, SumPool2d, pool_out_shape)
from ._loihi import BIAS_EXP_RANGE, BIAS_MANT_RANGE, loihi_weight_error
from ._params import MAX_NEURONS, MAX_V_BITS, PARAMS, param_error, show

__all__ = ["verify", "out_shape", "MAX_V_BITS"]


def _fail(name, msg):
    raise IRError(f"node {name!r}: {msg}")


def _check_fits(name, field, values, bits):
    if not fits(values, bits):
        lo, hi = int_range(bits)
        _fail(name, f"{field} must fit int{bits} [{lo}, {hi}], not values in "
                    f"[{int(np.min(values))}, {int(np.max(values))}]")


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
        if h < 1 or w < 1:
            _fail(name, f"kernel {(kh, kw)}, stride {node.stride}, padding {node.padding} "
                        f"do not fit input {in_shape}")
        return (cout, h, w)
    if isinstance(node, SumPool2d):
        (kh, kw), (sh, sw) = node.kernel, node.stride
        if len(in_shape) != 3 or in_shape[1] < kh or in_shape[2] < kw:
            _fail(name, f"input shape must be (C, H>={kh}, W>={kw}), not {in_shape}")
        return (in_shape[0], (in_shape[1] - kh) // sh + 1, (in_shape[2] - kw) // sw + 1)
    if isinstance(node, Scale):
        try:
            np.broadcast_to(node.w, in_shape)
        except ValueError:
            _fail(name, f"w of shape {node.w.shape} must broadcast to input shape {in_shape}")
        return tuple(in_shape)
    if isinstance(node, Flatten):
        return (math.prod(in_shape),)
    raise IRError(f"node {name!r}: unknown synapse type {type(node).__name__!r}")


def _check_params(name, node):
    """Every scalar param has its kind and range (_params.PARAMS); then the cross rules."""
    for pname in PARAMS[node.type]:
        err = param_error(node.type, pname, getattr(node, pname))
        if err:
            _fail(name, f"{pname} {err}")
    if isinstance(node, Source):
        if node.encoding in ("rate", "bits") and node.T < 1:
            _fail(name, f"T must be >= 1 for {node.encoding} encoding, not {node.T}")
        return
    if isinstance(node, MaxPool2d):
        _check_maxpool(name, node)
        return
    if hasattr(node, "w_bits"):
        for field, arr in node.arrays().items():
            _check_fits(name, field, arr, node.w_bits)
    if node.ROLE not in ("neuron", "readout"):
        return
    for field, arr in node.arrays().items():
        try:
            np.broadcast_to(arr, node.shape)
        except ValueError:
            _fail(name, f"{field} of shape {arr.shape} must broadcast to the node shape {node.shape}")
        _check_fits(name, field, arr, node.v_bits)
    if isinstance(node, CUBALIF):
        _check_cubalif(name, node)
        return
    if node.ROLE == "neuron" and np.any(node.theta <= 0):
        _fail(name, f"theta must be > 0, not min {int(node.theta.min())}")
    if isinstance(node, STBIF):
        _check_fits(name, "s_min/s_max", [node.s_min, node.s_max], node.s_bits)
    if isinstance(node, (IF, CaLIF)):
        _check_fits(name, "s_max", [node.s_max], node.s_bits)


def _check_cubalif(name, node):
    """Lava's LIF registers: bias_mant signed 13 bits, bias_exp unsigned 3 bits."""
    for field, (lo, hi) in (("bias_mant", BIAS_MANT_RANGE), ("bias_exp", BIAS_EXP_RANGE)):
        arr = getattr(node, field)
        if arr.size and (int(arr.min()) < lo or int(arr.max()) > hi):
            _fail(name, f"{field} must lie in [{lo}, {hi}], not values in "
                        f"[{int(arr.min())}, {int(arr.max())}]")


def _check_loihi_inputs(graph):
    """A synapse ending in a CUBALIF is a Dense or Conv2d whose W Lava's fixed-point Dense uses
    unchanged; w_exp != 0 only on a synapse that feeds CUBALIF nodes alone."""
    for e in graph.edges:
        src, dst = graph.nodes[e.src], graph.nodes[e.dst]
        if isinstance(dst, CUBALIF):
            if not isinstance(src, (Dense, Conv2d)):
                raise IRError(f"edge {show(e.src)} -> {show(e.dst)}: a CUBALIF takes input only "
                              f"through Dense or Conv2d synapses, not a {src.type}")
            err = loihi_weight_error(src.W)
            if err:
                _fail(e.src, f"W feeds CUBALIF {e.dst!r}: {err}")
        elif getattr(src, "w_exp", 0) != 0:
            _fail(e.src, f"w_exp must be 0 on a synapse that feeds a {dst.type} ({e.dst!r}), not "
                         f"{src.w_exp}; only CUBALIF inputs have a weight exponent")


def _check_maxpool(name, node):
    """Every window holds an input (padding <= kernel/2, as torch); `shape` is the pooled shape."""
    if any(2 * p > k for p, k in zip(node.padding, node.kernel)):
        _fail(name, f"padding must be at most kernel/2, not padding {node.padding} for kernel {node.kernel}")
    (_, h, w), (kh, kw) = node.in_shape, node.kernel
    if h + 2 * node.padding[0] < kh or w + 2 * node.padding[1] < kw:
        _fail(name, f"kernel {node.kernel} must fit the padded input {node.in_shape} "
                    f"(padding {node.padding})")
    out = pool_out_shape(node.in_shape, node.kernel, node.stride, node.padding, node.ceil_mode)
    if tuple(node.shape) != out:
        _fail(name, f"shape must be the pooled shape {out} of in_shape {node.in_shape}, "
                    f"not {tuple(node.shape)}")


_POOL_INPUTS = (Source, STBIF, IF, MaxPool2d)  # spiking nodes whose output total is a count


def _check_edges(graph):
    seen = set()
    for e in graph.edges:
        where = f"edge {show(e.src)} -> {show(e.dst)}"
        for end in (e.src, e.dst):
            if not isinstance(end, str) or end not in graph.nodes:
                raise IRError(f"{where}: node {show(end)} does not exist")
        if not (type(e.delay) is int or isinstance(e.delay, np.integer)) or e.delay not in (0, 1):
            raise IRError(f"{where}: delay must be 0 or 1, not {show(e.delay)}")
        if (e.src, e.dst) in seen:
            raise IRError(f"{where}: duplicate edge (each pair of nodes is joined at most once)")
        seen.add((e.src, e.dst))
        src, dst = graph.nodes[e.src], graph.nodes[e.dst]
        if e.delay and src.ROLE not in ("source", "neuron"):
            raise IRError(f"{where}: a delay is allowed only on edges leaving a Source or neuron, "
                          f"not a {src.type}")
        if src.ROLE == "readout":
            raise IRError(f"{where}: a Readout has no outputs")
        if dst.ROLE == "source":
            raise IRError(f"{where}: a Source has no inputs")
        if isinstance(dst, MaxPool2d):
            if not isinstance(src, _POOL_INPUTS) or getattr(src, "encoding", "analog") == "bits":
                raise IRError(f"{where}: a MaxPool2d takes one spiking input directly (a Source "
                              f"with analog or rate encoding, STBIF, IF or MaxPool2d), not a "
                              f"{src.type}{' (bits)' if isinstance(src, Source) else ''}")
        elif dst.ROLE in ("neuron", "readout") and src.ROLE != "synapse":
            raise IRError(f"{where}: a {dst.type} takes input only through synapses, "
                          f"not from a {src.type}")


def verify(graph):
    """Check `graph`; raise IRError naming the node or edge at fault. Returns {name: shape}."""
    if not graph.nodes:
        raise IRError(f"graph {graph.name!r} has no nodes")
    for name, node in graph.nodes.items():
        if type(node).__name__ not in NODE_TYPES or NODE_TYPES[type(node).__name__] is not type(node):
            raise IRError(f"node {show(name)}: unknown type {type(node).__name__!r}; "
                          f"expected one of {sorted(NODE_TYPES)}")
        _check_params(name, node)
    _check_edges(graph)
    _check_loihi_inputs(graph)
    if not graph.sources:
        raise IRError(f"graph {graph.name!r} has no Source node")
    cuba_only = graph.neurons and all(isinstance(graph.nodes[n], CUBALIF) for n in graph.neurons)
    if not graph.readouts and not cuba_only:
        raise IRError(f"graph {graph.name!r} has no Readout node (only a graph whose neurons "
                      f"are all CUBALIF may end in spikes)")
    ins = {n: [] for n in graph.nodes}
    outs = {n: 0 for n in graph.nodes}
    for e in graph.edges:
        ins[e.dst].append(e.src)
        outs[e.src] += 1
    shapes = {}
    for name in graph.topo_order():
        node = graph.nodes[name]
        if node.ROLE == "source":
            shapes[name] = node.shape
        elif node.ROLE == "synapse":
            if len(ins[name]) != 1:
                _fail(name, f"a synapse must have exactly 1 input, not {len(ins[name])}")
            if not outs[name]:
                _fail(name, "synapse output is not connected to anything")
            shapes[name] = out_shape(name, node, shapes[ins[name][0]])
            if math.prod(shapes[name]) > MAX_NEURONS:
                _fail(name, f"output shape {shapes[name]} must hold at most {MAX_NEURONS} values")
        else:
            if isinstance(node, MaxPool2d):
                if len(ins[name]) != 1:
                    _fail(name, f"a MaxPool2d must have exactly 1 input, not {len(ins[name])}")
                if shapes[ins[name][0]] != node.in_shape:
                    _fail(name, f"input from {ins[name][0]!r} has shape {shapes[ins[name][0]]}, "
                                f"expected in_shape {node.in_shape}")
                shapes[name] = node.shape
                continue
            if not ins[name]:
                _fail(name, f"missing input: no synapse ends in this {node.type}")
            for src in ins[name]:
                if shapes[src] != node.shape:
                    _fail(name, f"input from {src!r} has shape {shapes[src]}, "
                                f"expected the node shape {node.shape}")
            shapes[name] = node.shape
    return shapes
