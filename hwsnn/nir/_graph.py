"""A NIR graph checked for what hwsnn can import: one Input, one Output, feed-forward (no
recurrent edges), shapes that chain, every synapse with one input and one consumer.

`NirGraph.chains(name)` lists, for a neuron or the Output, the synapse paths that end in it, each
starting at a spiking node (the Input or a neuron).
"""

import numpy as np

from ..errors import NIRError
from ._spec import NEURON_TYPES, READOUT_TYPES, SYNAPSE_TYPES, check_node

__all__ = ["NirGraph", "parse_graph"]


def _fail(name, msg):
    raise NIRError(f"NIR node {name!r}: {msg}")


def _pair(name, node, key, default):
    v = node.get(key)
    if v is None:
        return default
    v = np.asarray(v).reshape(-1).tolist()
    if len(v) == 1:
        v = v * 2
    if len(v) != 2 or min(v) < 0 or max(v) > 1 << 16:
        _fail(name, f"{node['type']}.{key} must be one or two integers in [0, 65536], not {v}")
    return tuple(int(x) for x in v)


def _out_shape(name, node, ins):
    """Output shape of `node` for input shapes `ins` (NIRError when they do not chain)."""
    kind = node["type"]
    if kind == "Input":
        return tuple(int(v) for v in node["shape"])
    shape = ins[0]
    if any(s != shape for s in ins[1:]):
        _fail(name, f"its inputs have different shapes {ins}")
    if kind in ("Affine", "Linear"):
        w = node["weight"]
        if shape != (w.shape[1],):
            _fail(name, f"{kind} weight {w.shape} takes input shape ({w.shape[1]},), not {shape}")
        if kind == "Affine" and node["bias"].shape != (w.shape[0],):
            _fail(name, f"Affine bias must have shape ({w.shape[0]},), not {node['bias'].shape}")
        return (w.shape[0],)
    if kind == "Conv2d":
        w = node["weight"]
        groups = int(node["groups"].reshape(-1)[0]) if node["groups"].size == 1 else -1
        if groups < 1 or w.shape[0] % groups:
            _fail(name, f"Conv2d groups must be a positive divisor of {w.shape[0]}, not "
                        f"{node['groups'].tolist()}")
        if _pair(name, node, "dilation", (1, 1)) != (1, 1):
            _fail(name, f"Conv2d dilation must be 1, not {node['dilation'].tolist()}")
        if len(shape) != 3 or shape[0] != w.shape[1] * groups:
            _fail(name, f"Conv2d weight {w.shape} (groups {groups}) takes input "
                        f"({w.shape[1] * groups}, H, W), not {shape}")
        if node["bias"].shape != (w.shape[0],):
            _fail(name, f"Conv2d bias must have shape ({w.shape[0]},), not {node['bias'].shape}")
        sh, sw = _pair(name, node, "stride", (1, 1))
        ph, pw = _pair(name, node, "padding", (0, 0))
        if sh < 1 or sw < 1:
            _fail(name, f"Conv2d stride must be positive, not {(sh, sw)}")
        h = (shape[1] + 2 * ph - w.shape[2]) // sh + 1
        wd = (shape[2] + 2 * pw - w.shape[3]) // sw + 1
        if h < 1 or wd < 1:
            _fail(name, f"Conv2d kernel {w.shape[2:]} does not fit input {shape} with padding "
                        f"{(ph, pw)}")
        return (w.shape[0], h, wd)
    if kind in ("SumPool2d", "AvgPool2d"):
        kh, kw = _pair(name, node, "kernel_size", None)
        sh, sw = _pair(name, node, "stride", None)
        if _pair(name, node, "padding", (0, 0)) != (0, 0):
            _fail(name, f"{kind} padding must be 0, not {node['padding'].tolist()}")
        if min(kh, kw, sh, sw) < 1 or len(shape) != 3 or shape[1] < kh or shape[2] < kw:
            _fail(name, f"{kind} kernel {(kh, kw)} stride {(sh, sw)} does not fit input {shape}")
        return (shape[0], (shape[1] - kh) // sh + 1, (shape[2] - kw) // sw + 1)
    if kind == "Flatten":
        start, end = int(node["start_dim"].reshape(-1)[0]), int(node["end_dim"].reshape(-1)[0])
        if start not in (0, 1) or end != -1:
            _fail(name, f"Flatten must flatten the whole sample (start_dim 0 or 1, end_dim -1), "
                        f"not start_dim {start}, end_dim {end}")
        if "input_type" in node and tuple(node["input_type"].tolist()) not in (shape, (1, *shape)):
            _fail(name, f"Flatten input_type {node['input_type'].tolist()} is not its input "
                        f"{shape}")
        return (int(np.prod(shape)),)
    if kind == "Scale":
        try:
            np.broadcast_to(node["scale"], shape)
        except ValueError:
            _fail(name, f"Scale of shape {node['scale'].shape} does not fit input {shape}")
        return shape
    if kind in NEURON_TYPES + READOUT_TYPES:
        pshape = node["v_threshold" if "v_threshold" in node else "v_leak"].shape
        if pshape != shape and int(np.prod(pshape)) != 1:
            _fail(name, f"{kind} parameters have shape {pshape}, its input {shape}")
        return shape
    if kind == "Output":
        want = tuple(int(v) for v in node["shape"])
        if want != shape and want != (1, *shape):
            _fail(name, f"Output shape {list(want)} is not its input's {shape}")
        return shape
    _fail(name, f"type {kind!r} is not supported")


class NirGraph:
    """nodes {name: checked node}, edges [(src, dst)], order (topological), shapes {name: out}."""

    def __init__(self, nodes, edges, order, shapes):
        self.nodes, self.edges, self.order, self.shapes = nodes, edges, order, shapes
        self.preds = {n: [s for s, d in edges if d == n] for n in nodes}
        self.succs = {n: [d for s, d in edges if s == n] for n in nodes}

    def kind(self, name):
        return self.nodes[name]["type"]

    def spiking(self, name):
        return self.kind(name) == "Input" or self.kind(name) in NEURON_TYPES

    def chains(self, name):
        """[[spiking source, synapse, ..., synapse]] of every path into `name`."""
        out = []
        for p in self.preds[name]:
            path = [p]
            while not self.spiking(path[0]):
                if self.kind(path[0]) not in SYNAPSE_TYPES:
                    _fail(name, f"its input {path[0]!r} ({self.kind(path[0])}) is not a synapse "
                                f"or spiking node")
                path.insert(0, self.preds[path[0]][0])
            out.append(path)
        return out


def _topo(nodes, edges):
    indeg = {n: 0 for n in nodes}
    succ = {n: [] for n in nodes}
    for s, d in edges:
        indeg[d] += 1
        succ[s].append(d)
    ready = [n for n in nodes if indeg[n] == 0]
    order = []
    while ready:
        n = ready.pop(0)
        order.append(n)
        for d in succ[n]:
            indeg[d] -= 1
            if indeg[d] == 0:
                ready.append(d)
    if len(order) != len(nodes):
        stuck = sorted(n for n in nodes if n not in set(order))
        raise NIRError(f"NIR node {stuck[0]!r}: recurrent edges through nodes {stuck}: hwsnn "
                       f"imports feed-forward graphs only")
    return order


def parse_graph(raw):
    """NirGraph from the reader's dict; NIRError naming the node for anything hwsnn cannot take."""
    nodes = {name: check_node(name, r) for name, r in raw["nodes"].items()}
    edges = []
    for s, d in raw["edges"]:
        for n in (s, d):
            if n not in nodes:
                raise NIRError(f"NIR edge ({s!r}, {d!r}): node {n!r} does not exist")
        if (s, d) not in edges:
            edges.append((s, d))
    for kind in ("Input", "Output"):
        found = [n for n, v in nodes.items() if v["type"] == kind]
        if len(found) != 1:
            raise NIRError(f"NIR graph must have one {kind} node, not {len(found)} {found[:4]}")
    order = _topo(nodes, edges)
    g = NirGraph(nodes, edges, order, {})
    for name in order:
        kind, ins = g.kind(name), g.preds[name]
        if kind == "Input" and ins:
            _fail(name, f"Input must have no input edges, not {ins}")
        if kind != "Input" and not ins:
            _fail(name, f"{kind} has no input edge")
        if kind != "Output" and not g.succs[name]:
            _fail(name, f"{kind} has no output edge (it reaches no Output)")
        if kind in SYNAPSE_TYPES + ("Output",) + READOUT_TYPES and len(ins) != 1:
            _fail(name, f"{kind} must have one input edge, not {len(ins)} from {ins}")
        if kind in SYNAPSE_TYPES and len(g.succs[name]) != 1:
            _fail(name, f"{kind} must feed one node, not {g.succs[name]}")
        if kind == "Output" and g.succs[name]:
            _fail(name, f"Output must have no output edges, not {g.succs[name]}")
        if kind in READOUT_TYPES and g.kind(g.succs[name][0]) != "Output":
            _fail(name, f"{kind} readout must feed the Output, not {g.succs[name]}")
        g.shapes[name] = _out_shape(name, g.nodes[name], [g.shapes[p] for p in ins])
    return g
