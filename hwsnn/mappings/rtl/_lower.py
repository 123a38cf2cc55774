"""`lower(graph)`: IR -> a DAG of neuron-core configurations with their memory images.

Passes (each a function of the previous result):
1. `chain`: the neuron/readout nodes in topological order, each with the spiking nodes
   (Source or earlier neurons) that feed it through synapses: a residual block's core takes
   the main path and the shortcut.
2. `tables`: per (source, node) pair one input table: a shared kernel for each synapse path
   that is [SumPool2d(k, stride k) ->] Conv2d(groups 1, any stride, 1x1 included) or an
   identity-shaped Scale (a diagonal 1x1 kernel): the IR's conv itself, exact by construction;
   else a kernel composed of the path (`_kernels.path_kernel`: any SumPool2d before a conv,
   grouped/depthwise convs as block-diagonal kernels, while no larger than the dense table),
   checked against the synapses on probe vectors (`_kernels.probe_check`, linear in the
   weights); else one dense matrix of every path (`_images.unroll`, built from the IR arrays
   with its own index arithmetic, never oracle code).
   The parts of a split concatenation (same type, H x W, readers) become one core
   (`_concat`: each part's kernels on its own channels, readers take one table of all parts);
   `RtlNetwork.parts` says which IR nodes, and which of its neurons, each core holds.
3. `configure`: one CoreConfig per node: bias rows b_t = release(bias, t, R)
   (`_images.bias_rows`); Ca-LIF: one bias row -leak issued for the T window steps, the
   settle phase in the network; widths from the IR (v_bits, s_bits) and from the values
   (w_bits, theta_bits), the accumulator width from the input bound. The layout and why a
   table is dense are in `cfg.meta` and `RtlNetwork.summary()`.
The RTL delivers every edge with delay 1 (each core consumes the spikes its predecessor fired
in the previous step), so the network it computes is `graph.with_delays(1)`.
"""

from dataclasses import dataclass, field

import numpy as np

from hwsnn.errors import MappingError
from hwsnn.ir import (CUBALIF, IF, STBIF, CaLIF, Conv2d, Dense, Flatten, MaxPool2d, Readout, Scale, SumPool2d,
                      verify)
from hwsnn.rtl import CoreConfig
from hwsnn.rtl._config import ConvLayout, ConvTable, Table

from ._concat import NotMergeable, combined_table, group_name, merge_parts, part_groups
from ._images import bias_rows, unroll, unroll_sparse
from ._kernels import path_kernel, probe_check

__all__ = ["RtlNetwork", "lower", "chain", "unroll", "DELAY"]

DELAY = 1  # every edge leaving a spiking node is delivered one step later


@dataclass(eq=False)
class RtlNetwork:
    """What `lower` returns: the cores in order, the node each one computes, the source."""

    graph: object          # the graph the RTL computes (with its delays)
    source: str
    nodes: list            # node name of core k (a concatenation's core: its own name)
    cores: list            # CoreConfig of core k (its tables name their source cores)
    meta: dict = field(default_factory=dict)
    parts: list = None     # per core [(IR node, first neuron, end)]: the nodes whose neurons it holds

    def __post_init__(self):
        if self.parts is None:
            self.parts = [[(n, 0, getattr(c, "n", 0))] for n, c in zip(self.nodes, self.cores)]

    def summary(self):
        """Per core: its CoreConfig summary, `layout` ("shared-kernel" or "dense") and
        `layout_reason` (why a layer is dense); `parts`: the IR nodes a concatenation's core computes."""
        return [{"node": n, **c.summary(), "layout": layout_of(c), "layout_reason": c.meta.get("layout_reason", ""),
                 "sources": [t.name for t in c.tables],
                 **({"parts": [p[0] for p in parts]} if len(parts) > 1 else {})}
                for n, c, parts in zip(self.nodes, self.cores, self.parts)]


def layout_of(cfg):
    if getattr(cfg, "kind", "") == "maxpool":
        return "max-pool"  # a MaxPoolUnit: no weights
    return "shared-kernel" if cfg.conv is not None else "dense"


MAX_DENSE = 1 << 24  # entries of a dense table above which lowering refuses (memory)


class _Indexed:
    """A graph read through an index built once: `inputs_of` a dict lookup (the Graph's own
    scans every edge), `topo_order` computed once, `position` of each node in it. Everything
    else is the graph's."""

    def __init__(self, graph):
        self.graph, self.nodes = graph, graph.nodes
        self._inputs = {}
        for e in graph.edges:
            self._inputs.setdefault(e.dst, []).append(e)
        self._order = graph.topo_order()
        self.position = {n: k for k, n in enumerate(self._order)}
        self.rows = {}  # (shape, pool) -> read-only pixel rows, shared by every table that reads them

    def inputs_of(self, name):
        return list(self._inputs.get(name, ()))

    def topo_order(self):
        return list(self._order)

    def __getattr__(self, attr):
        return getattr(self.graph, attr)


def _index(graph):
    return graph if isinstance(graph, _Indexed) else _Indexed(graph)


def _spiking_inputs(graph, name):
    """Spiking nodes (Source or neuron) that feed `name` through synapse chains, in
    topological order."""
    found, stack = set(), [e.src for e in graph.inputs_of(name)]
    while stack:
        src = stack.pop()
        if graph.nodes[src].ROLE == "synapse":
            stack += [e.src for e in graph.inputs_of(src)]
        else:
            found.add(src)
    return sorted(found, key=graph.position.__getitem__)


def chain(graph):
    """[(node, its spiking inputs)] for every neuron/readout node, in topological order."""
    graph = _index(graph)
    sources = graph.sources
    if len(sources) != 1:
        raise MappingError(f"graph '{graph.name}': the RTL network takes one Source, not {len(sources)}")
    order = [(n, _spiking_inputs(graph, n)) for n in graph.topo_order()
             if graph.nodes[n].ROLE in ("neuron", "readout")]
    if not order:
        raise MappingError(f"graph '{graph.name}': has no neuron or readout node to map")
    readers = [n for n, ins in order if sources[0] in ins]
    if len(readers) != 1:
        raise MappingError(f"graph '{graph.name}': the Source must feed exactly one neuron/readout node "
                           f"in the RTL network, not {readers}")
    return order


def _paths(graph, name, src):
    """Synapse paths src -> name, each a list of synapse node names in forward order."""
    out = []

    def back(node, path):
        if node == src:
            out.append(path[::-1])
        elif graph.nodes[node].ROLE == "synapse":
            back(graph.inputs_of(node)[0].src, path + [node])
    for e in graph.inputs_of(name):
        back(e.src, [])
    return out


def _kernel(graph, path, src, dst_shape):
    """(ConvTable, "") for one synapse path, or (None, why it needs a dense table)."""
    nodes = [graph.nodes[p] for p in path]
    s_shape = tuple(graph.nodes[src].shape)
    if len(s_shape) != 3 or len(dst_shape) != 3:
        return None, "not a (C, H, W) -> (C, H, W) path"
    if len(nodes) == 1 and isinstance(nodes[0], Scale):
        w = np.asarray(nodes[0].w, dtype=np.int64)
        C = s_shape[0]
        per_c = np.broadcast_to(w, s_shape)
        if s_shape != tuple(dst_shape) or not (per_c == per_c[:, :1, :1]).all():
            return None, f"Scale '{path[0]}' is not a per-channel identity shortcut"
        K = np.zeros((C, C, 1, 1), dtype=_narrowest(per_c))
        K[np.arange(C), np.arange(C), 0, 0] = per_c[:, 0, 0]
        return ConvTable(K, (1, 1), (0, 0), _pixel_rows(graph, s_shape, 1), s_shape), ""
    pool = 1
    if len(nodes) == 2 and isinstance(nodes[0], SumPool2d) and isinstance(nodes[1], Conv2d):
        p = nodes[0]
        if p.kernel[0] != p.kernel[1] or p.stride != p.kernel:
            return None, f"SumPool2d '{path[0]}' is not square with stride = kernel"
        pool, conv = p.kernel[0], nodes[1]
    elif len(nodes) == 1 and isinstance(nodes[0], Conv2d):
        conv = nodes[0]
    else:
        return None, f"path {path} is not [SumPool2d ->] Conv2d or Scale"
    if conv.groups != 1:
        return None, f"Conv2d has groups {conv.groups} (needs 1)"
    K = np.array(conv.W, dtype=conv.W.dtype if conv.W.dtype.kind == "i" else np.int64)  # own copy, IR dtype
    return ConvTable(K, conv.stride, conv.padding, _pixel_rows(graph, s_shape, pool), s_shape), ""


def _narrowest(values):
    """The narrowest of int8..int64 that holds every value."""
    lo, hi = int(values.min(initial=0)), int(values.max(initial=0))
    return next(d for d in (np.int8, np.int16, np.int32, np.int64) if np.iinfo(d).min <= lo and hi <= np.iinfo(d).max)


def _pixel_rows(graph, shape, pool):
    """(C*H*W, 3) int64: source pixel (c, h, w) -> conv input pixel (c, h // pool, w // pool),
    -1s where a floor cuts it (h // pool >= H // pool). Read-only, built once per lowering."""
    if (shape, pool) not in graph.rows:
        graph.rows[shape, pool] = _build_rows(shape, pool)
    return graph.rows[shape, pool]


def _build_rows(shape, pool):
    C, H, W = shape
    Hp, Wp = H // pool, W // pool
    rows = np.empty((C, H, W, 3), np.int64)
    rows[..., 0] = np.arange(C)[:, None, None]
    rows[..., 1] = (np.arange(H) // pool)[None, :, None]
    rows[..., 2] = (np.arange(W) // pool)[None, None, :]
    cut = (np.arange(H)[:, None] // pool >= Hp) | (np.arange(W)[None, :] // pool >= Wp)
    rows[:, cut] = -1
    rows.flags.writeable = False
    return rows.reshape(-1, 3)


def tables(graph, name, src, use_conv=True):
    """(tables from `src` into `name`, why dense ("" if kernels)): one kernel table per path when
    every path has one (`_kernel`, else a composed `path_kernel`: pooling before a conv, grouped
    convs), checked against the synapses on probe vectors (`probe_check`), else one dense table
    of the unrolled synapses."""
    graph = _index(graph)
    dst_shape = tuple(graph.nodes[name].shape)
    n_src, n_dst = int(np.prod(graph.nodes[src].shape)), int(np.prod(dst_shape))
    why = "shared-kernel layout turned off"
    if use_conv:
        max_words = MAX_DENSE if n_src * n_dst > MAX_DENSE else n_src * n_dst
        kernels, composed = [], False
        for p in _paths(graph, name, src):
            k, w = _kernel(graph, p, src, dst_shape)
            if k is None:
                k, w2 = path_kernel(graph, p, src, dst_shape, max_words)
                composed = composed or len(p) > 1  # one grouped conv: its block-diagonal kernel
                w = w if k is None else ""
                w = f"{w}; composed: {w2}" if w2 else w
            kernels.append((k, w))
        why = next((w for k, w in kernels if k is None), "")
        if not why:  # the IR's conv (block-diagonal when grouped) by construction; composed: checked
            if not composed or probe_check(graph, name, src, [k for k, _ in kernels], ConvLayout(*dst_shape)):
                return [Table(n_src, conv=k, name=src) for k, _ in kernels], ""
            why = "the shared kernel does not reproduce the synapses (probe check)"
    dense = _dense_layer(graph, name, src)
    if dense is not None:  # a Linear layer: its table is W itself (nothing unrolled)
        if not dense.any():
            return [Table(n_src, zero=True, name=src)], "all weights 0"
        return [Table(n_src, dense=dense, name=src)], why
    exact = unroll_sparse(graph, name, src)
    if exact.nnz == 0:  # no synapse carries a weight: the events are dropped, no memory
        return [Table(n_src, zero=True, name=src)], "all weights 0"
    if n_src * n_dst > MAX_DENSE:
        raise MappingError(f"node '{name}': the synapses from '{src}' need a dense table of {n_src} x {n_dst} "
                           f"words (more than {MAX_DENSE}): {why}")
    return [Table(n_src, dense=exact.astype(_narrowest(exact.data)).toarray(), name=src)], why


def _dense_layer(graph, name, src):
    """W^T (n_src, n_dst) when the only path src -> name is [Flatten ->] Dense, else None: a
    read-only view of the IR's W in its own integer dtype (int16 from the compiler), no copy."""
    paths = _paths(graph, name, src)
    if len(paths) != 1 or not paths[0]:
        return None
    nodes = [graph.nodes[p] for p in paths[0]]
    if not isinstance(nodes[-1], Dense) or not all(isinstance(n, Flatten) for n in nodes[:-1]):
        return None
    W = np.asarray(nodes[-1].W)
    if W.dtype.kind != "i":
        W = W.astype(np.int64)
    if W.shape != (int(np.prod(graph.nodes[name].shape)), int(np.prod(graph.nodes[src].shape))):
        return None
    view = W.T.view()
    view.flags.writeable = False  # the table must not write into the IR's array
    return view


def _source_bound(node):
    """(x_bits of the events, largest |value|) of a spiking node's events."""
    if node.ROLE == "source" and node.encoding == "analog":
        return node.x_bits, 1 << (node.x_bits - 1)
    return 2, 1


def _pool_config(graph, name, srcs, index, window):
    """A MaxPool2d becomes a max-pool unit (rtl/_maxpool.py) reading its input's spikes."""
    from hwsnn.rtl._maxpool import PoolConfig, PoolInput
    node, src = graph.nodes[name], srcs[0]
    if graph.nodes[src].ROLE != "neuron" or window:
        raise MappingError(f"node '{name}': the RTL max-pool unit takes the spikes of a neuron or "
                           f"max pool outside a Ca-LIF network, not a {graph.nodes[src].type}")
    return PoolConfig(name, node.in_shape, node.shape, node.kernel, node.stride, node.padding,
                      node.s_bits, tables=[PoolInput(int(np.prod(node.in_shape)), index.get(src, -1), src)])


class _Tables:
    """`tables` of (node, source) pairs, each computed once (a concatenation's group is checked
    with them before the cores are configured from them). `groups`: the concatenations one
    core computes (`_concat`), `part_of`: part node -> its group."""

    def __init__(self, graph, use_conv):
        self.graph, self.use_conv, self.cache = graph, use_conv, {}
        self.groups, self.part_of = [], {}

    def __call__(self, name, src):
        if (name, src) not in self.cache:
            self.cache[name, src] = tables(self.graph, name, src, self.use_conv)
        return self.cache[name, src]

    def combined(self, name, parts):
        """The one table node `name` takes from a group's `parts` (`_concat.combined_table`)."""
        if (name, tuple(parts)) not in self.cache:
            shape = [int(np.prod(self.graph.nodes[p].shape)) for p in parts]
            self.cache[name, tuple(parts)] = combined_table([self(name, p)[0] for p in parts], shape,
                                                            group_name(parts))
        return self.cache[name, tuple(parts)]

    def sources(self, name, srcs):
        """[(source name, its tables, why dense)] of node `name`: a group's parts as one table."""
        out, seen = [], set()
        for s in srcs:
            g = self.part_of.get(s)
            if g is None:
                out.append((s,) + self(name, s))
            elif g not in seen:
                seen.add(g)
                parts = self.groups[g]
                out.append((group_name(parts), [self.combined(name, parts)],
                            "; ".join(self(name, p)[1] for p in parts if self(name, p)[1])))
        return out


def _configure(graph, name, srcs, index, lanes, use_conv=True, window=0, tabs_of=None):
    node = graph.nodes[name]
    if isinstance(node, MaxPool2d):
        return _pool_config(graph, name, srcs, index, window)
    tabs_of = tabs_of or _Tables(graph, use_conv)
    tabs, why = [], []
    for s, t, w in tabs_of.sources(name, srcs):
        for tab in t:
            tab.source = index.get(s, -1)
        tabs += t
        if w:
            why.append(f"{s}: {w}")
    tabs = [t for t in tabs if not t.zero] + [t for t in tabs if t.zero]  # zero tables last
    n = int(np.prod(node.shape))
    layout = ConvLayout(*node.shape) if any(t.conv is not None for t in tabs) else None
    x_bits = max(_source_bound(graph.nodes[s])[0] for s in srcs)
    in_bound = max(_source_bound(graph.nodes[s])[1] for s in srcs)
    settle_bound = 0
    if window:  # pending current of the settle phase: every source's settle spikes + in flight
        settle_bound = max((1 << graph.nodes[s].s_bits) if graph.nodes[s].ROLE == "neuron"
                           else _source_bound(graph.nodes[s])[1] for s in srcs)
    common = dict(name=name, n=n, tables=tabs, layout=layout, x_bits=x_bits, in_bound=in_bound,
                  v_bits=node.v_bits, window=window, settle_bound=settle_bound,
                  lanes=min(lanes, layout.C if layout is not None else n),
                  meta={"layout_reason": "; ".join(why)})
    if isinstance(node, Readout):
        if node.horner:
            raise MappingError(f"node '{name}': a horner Readout belongs to the iLIF pipeline, "
                               f"not the neuron core")
        return CoreConfig(kind="readout", theta=1, v0=0, s_bits=2, **common)
    if isinstance(node, CUBALIF):
        from ._cubalif import cubalif_config
        return cubalif_config(graph, name, [p for s in srcs for p in _paths(graph, name, s)], common)
    theta = np.broadcast_to(node.theta, node.shape).reshape(-1)
    if isinstance(node, CaLIF):
        leak = np.broadcast_to(node.leak, node.shape).reshape(-1).astype(np.int64)
        bias = -leak[None] if leak.any() else np.zeros((0, n), np.int64)
        return CoreConfig(kind="calif", theta=theta, v0=0, bias=bias, bias_R=len(bias),
                          bias_steps=node.T if len(bias) else 0, s_bits=node.s_bits, s_max=node.s_max,
                          gate=node.gate, **common)
    if not isinstance(node, (STBIF, IF)):
        raise MappingError(f"node '{name}': the neuron core runs STBIF, IF, CaLIF and CUBALIF nodes, "
                           f"not {node.type}")
    if window:
        raise MappingError(f"node '{name}': a Ca-LIF network's cores must all be CaLIF or Readout, "
                           f"not {node.type}")
    b = np.broadcast_to(node.bias, node.shape).reshape(-1)
    R = node.bias_R if b.any() else 0
    v0 = np.broadcast_to(node.v0, node.shape).reshape(-1)
    kind = "stbif" if isinstance(node, STBIF) else "if"
    extra = {"s_min": node.s_min} if kind == "stbif" else {}
    return CoreConfig(kind=kind, theta=theta, v0=v0, bias=bias_rows(b, R), bias_R=R, s_bits=node.s_bits,
                      s_max=node.s_max, **extra, **common)


def lower(graph, target=None, *, lanes=None, conv=True, pack_lanes=False):
    """Lower `graph` to an RtlNetwork. `target`: None or a dict with "lanes" (default 1).
    `pack_lanes`: each core keeps its weights and S in one memory for all lanes
    (`CoreConfig.pack_lanes`: fewer RAM blocks when one lane's memory is narrow).
    `conv`: give Conv2d / identity Scale paths shared-kernel tables; else every table is a
    dense weight image."""
    verify(graph)
    if lanes is None:
        lanes = int((target or {}).get("lanes", 1))
    graph = graph.with_delays(DELAY)
    indexed = _index(graph)
    order = chain(indexed)
    Ts = {graph.nodes[n].T for n in graph.neurons if isinstance(graph.nodes[n], CaLIF)}
    if len(Ts) > 1:
        raise MappingError(f"graph '{graph.name}': all CaLIF nodes must share one window T, not {sorted(Ts)}")
    window = Ts.pop() if Ts else 0
    tabs_of = _Tables(indexed, conv)
    if conv and not window:
        _concatenations(indexed, order, tabs_of)
    entries = []  # (core name, the nodes it computes)
    for name, _ in order:
        g = tabs_of.part_of.get(name)
        if g is None:
            entries.append((name, [name]))
        elif name == tabs_of.groups[g][-1]:  # the group's core takes the place of its last part
            entries.append((group_name(tabs_of.groups[g]), tabs_of.groups[g]))
    index = {}
    for k, (core, names) in enumerate(entries):
        index.update({core: k, **{n: k for n in names}})
    srcs_of = dict(order)
    cores, parts = [], []
    for core, names in entries:
        cfgs = [_configure(indexed, n, srcs_of[n], index, lanes, conv, window, tabs_of) for n in names]
        cores.append(cfgs[0] if len(cfgs) == 1 else merge_parts(core, cfgs, lanes))
        parts.append([(names[0], 0, getattr(cfgs[0], "n", 0))] if len(cfgs) == 1 else cores[-1].meta["parts"])
    for c in cores:
        c.pack_lanes = bool(pack_lanes)
    return RtlNetwork(graph=graph, source=graph.sources[0], nodes=[n for n, _ in entries], cores=cores,
                      parts=parts, meta={"delay": DELAY, "lanes": lanes, "window": window,
                                         "pack_lanes": bool(pack_lanes)})


def _concatenations(graph, order, tabs_of):
    """Fill `tabs_of.groups` with the concatenations one core can compute (`_concat`): every
    part's tables are kernels (or zero, with at least one kernel), every reader takes the parts
    as one table. (Type, H x W, S width and range are equal within a `part_groups` group.)"""
    srcs_of = dict(order)
    readers = {}
    for name, srcs in order:
        for s in srcs:
            readers.setdefault(s, []).append(name)
    for parts in part_groups(graph, order):
        kinds = [{t.kind for _, ts, _ in tabs_of.sources(p, srcs_of[p]) for t in ts} for p in parts]
        if any("conv" not in k or "dense" in k for k in kinds):
            continue
        try:
            for r in readers[parts[0]]:
                tabs_of.combined(r, parts)
        except NotMergeable:
            continue
        g = len(tabs_of.groups)
        tabs_of.groups.append(parts)
        tabs_of.part_of.update({p: g for p in parts})
