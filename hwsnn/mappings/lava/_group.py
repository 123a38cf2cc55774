"""Grouped lowering: the IR graph as a few Lava processes, each hosting many IR nodes.

`lower` (one process per IR node) does not scale: Lava runs every process model in its own OS
process, and densenet121's 2657 IR nodes (one neuron node per concatenated part) do not fit a
small machine; even googlenet (267 nodes) ran 37x slower that way. `run` uses this mapping for
every graph except Ca-LIF ones and runs with model overrides. `lower_grouped` cuts the IR's order (`hwsnn.ir.Schedule`) into `groups`
contiguous pieces of about equal work and makes one `procs.GroupProcess` per piece:

- every Source, neuron, MaxPool2d and Readout goes to the piece its place in the order falls in
  (pieces balanced by an estimate of each node's work, its synapses' included);
- every synapse goes with its first consumer (the earliest non-synapse node it feeds, through
  synapse chains), so a synapse and the neuron it drives share a process, and the edges that
  cross processes are the ones leaving a Source or neuron: delay 1 by default, received one
  step later (latched), so the processes step in parallel;
- all edges go from a piece to itself or a later one, so no process waits on a later one.

The data are the IR's, checked as `lower` checks them (`_neuron_params`, `_synapse_args`:
widths, containers, exact accumulators); the rules are the one-node models' (procs/group.py).
Per-step V, S, y come back per IR node, as from `lower`. Ca-LIF networks (their settle phase
drives each node's mode) run one process per node only.
"""

import os
from dataclasses import dataclass, field

import numpy as np

from hwsnn.errors import BackendError, MappingError
from hwsnn.ir import CaLIF, Conv2d, Dense, MaxPool2d, Schedule, verify
from hwsnn.mappings._inputs import as_inputs

from ._lower import LavaNetwork, _bcast, _check, _check_connected, _neuron_params, _synapse_args

__all__ = ["GroupedNetwork", "lower_grouped", "execute_grouped", "partition", "DEFAULT_GROUPS"]

DEFAULT_GROUPS = 4  # processes for a large graph (2 cores here; a few more balance the work)
NODE_COST = 2000  # fixed per-node cost in the estimate (Python and numpy call overhead)
SPIKES = ("STBIF", "IF", "ILIF")  # nodes whose output is a -1/0/+1 spike (int8 ports)


@dataclass
class GroupedNetwork(LavaNetwork):
    """A LavaNetwork whose `procs` are {group name: GroupProcess}; `group_of` {node: group};
    `layouts` {group: [(node, [shape of each recorded var])]}; `files` {group: record file}."""

    group_of: dict = field(default_factory=dict)
    layouts: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)


def _cost(node, shape):
    size = int(np.prod(shape))
    if isinstance(node, Conv2d):
        return int(node.W.size) * int(np.prod(shape[1:])) + NODE_COST
    if isinstance(node, Dense):
        return int(node.W.size) + NODE_COST
    return size + NODE_COST


def partition(g, order, shapes, groups):
    """{node: group index} (see module doc); indices run 0.. without gaps."""
    pos = {n: i for i, n in enumerate(order)}
    home = {}
    for n in reversed(order):
        if g.nodes[n].ROLE == "synapse":
            homes = [home[e.dst] if g.nodes[e.dst].ROLE == "synapse" else pos[e.dst]
                     for e in g.outputs_of(n)]
            home[n] = min(homes, default=len(order) - 1)
    cost = [0] * len(order)
    for n in order:
        cost[home.get(n, pos[n])] += _cost(g.nodes[n], shapes[n])
    total, done, index = max(sum(cost), 1), 0, {}
    for n in order:
        if n not in home:
            index[n] = min(groups - 1, int((done + cost[pos[n]] / 2) * groups / total))
            done += cost[pos[n]]
    last = max(index.values())
    for n in home:
        dst = order[home[n]]
        index[n] = index.get(dst, last)
    renumber = {k: i for i, k in enumerate(sorted(set(index.values())))}
    return {n: renumber[k] for n, k in index.items()}


def _entry(name, node, g, net, q, steps, batch, widths):
    """The plan entry of one node (and its widths), checked as `lower` checks it."""
    ins = [(e.src, e.delay) for e in g.inputs_of(name)]
    if node.ROLE == "source":
        _check(name, "x", q[name], node.x_bits, "x")
        widths[name] = {"s_out": node.x_bits if node.encoding == "analog" else 2}
        return ("source", name, np.asarray(q[name], dtype=np.int64), node.encoding, node.R,
                node.T, steps), None
    if node.ROLE == "synapse":
        kind, w, op, widths[name] = _synapse_args(name, node, net.bound[name])
        return ("synapse", name, ins[0][0], ins[0][1], kind, w, op), None
    if isinstance(node, MaxPool2d):
        _check(name, "S", [0], node.s_bits, "s")
        widths[name] = {"v": node.s_bits, "s": node.s_bits, "y": node.s_bits}
        p = {"kernel": node.kernel, "stride": node.stride, "padding": node.padding}
        layout = [node.in_shape, node.shape, node.shape]
        return ("maxpool", name, ins[0][0], ins[0][1], p, (batch, *node.in_shape),
                (batch, *node.shape)), layout
    kind, params, widths[name] = _neuron_params(name, node, net.ctx(name))
    shape = (batch, *node.shape)
    layout = [node.shape] * (3 if node.ROLE == "neuron" else 1)
    return ("neuron", name, kind, ins, params, _bcast(params.get("v0", 0), shape), shape), layout


def lower_grouped(graph, x, steps, *, delay=1, record_dir, groups=None):
    """Build `groups` (default DEFAULT_GROUPS) GroupProcesses for `graph` on input `x`; returns
    a GroupedNetwork, nothing runs yet. Same checks and messages as `lower`."""
    from ._compat import require_lava
    require_lava()
    from .procs.group import GroupProcess

    groups = DEFAULT_GROUPS if groups is None else int(groups)
    if groups < 1:
        raise MappingError(f"groups must be >= 1, not {groups}")
    g = graph if delay is None else graph.with_delays(delay)
    shapes = verify(g)
    net = Schedule(g)
    q = as_inputs(g, x)
    batch = next(iter(q.values())).shape[0]
    net.check_steps(steps)
    calif = [n for n in g.neurons if isinstance(g.nodes[n], CaLIF)]
    if calif or net.calif_T:
        raise MappingError(f"graph '{g.name}': the grouped Lava mapping has no Ca-LIF settle "
                           f"phase (nodes {calif[:3]}); run it one process per node")
    _check_connected(g)
    index = partition(g, net.order, shapes, groups)
    names = [f"group{k}" for k in range(max(index.values()) + 1)]
    plans = {k: [] for k in names}
    layouts = {k: [] for k in names}
    widths = {}
    for n in net.order:
        entry, layout = _entry(n, g.nodes[n], g, net, q, steps, batch, widths)
        plans[names[index[n]]].append(entry)
        if layout is not None:
            layouts[names[index[n]]].append((n, [tuple(s) for s in layout]))
    # cross-group connections: one InPort per (source node, reading group), one OutPort per node
    reads = {}  # (src, dst group) -> delays of its edges
    for e in g.edges:
        a, b = names[index[e.src]], names[index[e.dst]]
        if a != b:
            reads.setdefault((e.src, b), set()).add(e.delay)
    ins = {k: [] for k in names}
    outs = {k: {} for k in names}
    for (src, b), delays in reads.items():
        node = g.nodes[src]
        dt = "int8" if node.type in SPIKES else "int64"
        shape = (batch, *shapes[src])
        ins[b].append((f"i{len(ins[b])}", src, shape, dt, delays == {1}))
        a = names[index[src]]
        outs[a].setdefault(src, (f"o{len(outs[a])}", src, shape, dt))
    val_shapes = {n: (batch, *shapes[n]) for n in g.nodes}
    procs, files, errors = {}, {}, {}
    for k in names:
        files[k] = os.path.join(record_dir, f"{k}.bin")
        errors[k] = os.path.join(record_dir, f"{k}.err")
        procs[k] = GroupProcess(plan=plans[k], shapes=val_shapes, ins=ins[k],
                                outs=list(outs[k].values()), record=files[k], error=errors[k],
                                name=k)
    for k in names:
        for port, src, _, _, _ in ins[k]:
            a = names[index[src]]
            getattr(procs[a], outs[a][src][0]).connect(getattr(procs[k], port))
    return GroupedNetwork(g, net, batch, steps, procs, widths, errors=errors,
                          group_of={n: names[i] for n, i in index.items()}, layouts=layouts,
                          files=files)


def _check_group_errors(lnet):
    for k in lnet.procs:
        path = lnet.errors[k]
        if os.path.exists(path):
            with open(path) as f:
                raise BackendError(f"lava: the process model of {k} failed at {f.read()}")


def _read(lnet, total):
    """{node: {"V"/"S"/"y": (steps, B, *shape)}} from the groups' record files (int64)."""
    out, B = {}, lnet.batch
    for k, layout in lnet.layouts.items():
        sizes = [B * int(np.prod(s)) for _, shapes in layout for s in shapes]
        per_step = sum(sizes)
        raw = np.fromfile(lnet.files[k], dtype=np.int64) if per_step else np.zeros(0, np.int64)
        if raw.size != total * per_step:
            raise BackendError(f"lava: {k} recorded {raw.size // max(per_step, 1)} steps, "
                               f"expected {total}")
        rows = raw.reshape(total, per_step)
        parts = iter(np.split(rows, np.cumsum(sizes)[:-1], axis=1))
        for n, shapes in layout:
            out[n] = {var: next(parts).reshape(total, B, *s)
                      for var, s in zip(("V", "S", "y"), shapes)}
    return out


def execute_grouped(lnet):
    """Run a GroupedNetwork for its steps under Lava's runtime; return a Trace."""
    import multiprocessing
    import multiprocessing.util

    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    from ._run import _sigint_deferred, _stop, _trace
    from .procs.group import model_class

    cfg = Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map={
        p: model_class(p) for p in lnet.procs.values()})  # keyed by the Process itself
    any_proc = next(iter(lnet.procs.values()))
    multiprocessing.util.get_temp_dir()  # before Lava forks (see _run.execute)
    before = {p.pid for p in multiprocessing.active_children()}
    graceful = True
    try:
        with _sigint_deferred():
            any_proc.create_runtime(run_cfg=cfg)
        any_proc.run(condition=RunSteps(num_steps=lnet.steps), run_cfg=cfg)
        _check_group_errors(lnet)
    except KeyboardInterrupt:
        graceful = False
        raise
    except RuntimeError as exc:
        graceful = False
        raise BackendError(f"lava: the runtime failed: {exc}") from exc
    finally:
        _stop(any_proc, before, graceful)
    return _trace(lnet, _read(lnet, lnet.steps))
