"""`lower(graph, x, steps)`: IR graph -> connected Lava processes (a LavaNetwork).

One Process per IR node, every port with a batch axis first. Delays: by default every edge that
leaves a Source or neuron gets delay 1 (Loihi style: a synapse delivers one step later), so the
graph run is ``graph.with_delays(1)``; ``delay=None`` keeps the graph's own delays, ``0`` makes
delivery direct. Widths: every parameter must fit both its IR width and the Lava container that
holds it; a value that does not is a MappingError naming the node, never a silent wrap.

Lava imports nothing from the golden simulator. It takes the IR's timing from `hwsnn.ir.Schedule`
(node order, iLIF windows, the synapse bounds that size the containers). The input check is the
executors' own (`hwsnn/mappings/_inputs.py`, shared with the RTL back end). The weights, biases,
release schedules and neuron rules are Lava's own (`procs/`), so a bug in the oracle's
arithmetic shows up as a mismatch (tests/sim/test_verify_strict.py).
"""

import os
from dataclasses import dataclass, field

import numpy as np

from hwsnn.errors import MappingError
from hwsnn.ir import IF, ILIF, STBIF, CaLIF, Conv2d, Dense, Flatten, MaxPool2d, Readout, Scale, SumPool2d
from hwsnn.ir import Schedule, bits_for, fits, int_range, verify
from hwsnn.mappings._inputs import as_inputs

__all__ = ["LavaNetwork", "lower", "CONTAINER_BITS"]

# Widest IR value each Lava container holds exactly (see the LavaPyType precisions in procs/).
CONTAINER_BITS = {"x": 32, "w": 32, "v": 48, "s": 48, "a": 53}


@dataclass
class LavaNetwork:
    """Lowered network: `graph` is the graph Lava runs (its delays), `procs` {node: Process},
    `widths` {node: {var: bits}} from the IR, `records` {node: file of per-step rows}."""

    graph: object
    sim_net: object  # hwsnn.ir.Schedule of `graph` (order, ILIF timing)
    batch: int
    steps: int
    procs: dict
    widths: dict
    records: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)  # {node: file a failing process model writes}

    @property
    def calif(self):
        return bool(self.sim_net.calif_T)

    def stateful(self):
        g = self.graph
        return [n for n in self.sim_net.order if g.nodes[n].ROLE in ("neuron", "readout")]


def _fail(name, msg):
    raise MappingError(f"node '{name}': {msg}")


def _check(name, var, values, bits, container):
    if bits > CONTAINER_BITS[container]:
        _fail(name, f"{var} is int{bits} in the IR; the Lava register holds at most "
                    f"int{CONTAINER_BITS[container]}")
    if not fits(values, bits):
        lo, hi = int_range(bits)
        _fail(name, f"{var} must fit int{bits} [{lo}, {hi}], not values in "
                    f"[{int(np.min(values))}, {int(np.max(values))}]")


def _bcast(arr, shape):
    return np.ascontiguousarray(np.broadcast_to(np.asarray(arr, dtype=np.int64), shape))


def _neuron_params(name, node, ctx):
    """(Process class name, params, widths) of a neuron or readout node."""
    shape = node.shape
    vb = node.v_bits
    widths = {"v": vb, "a_in": CONTAINER_BITS["a"]}
    p = {"node": name}
    for f in ("theta", "v0", "bias", "leak"):
        if hasattr(node, f):
            arr = _bcast(getattr(node, f), shape)
            _check(name, f, arr, vb, "v")
            p[f] = arr
            widths[f] = vb
    if hasattr(node, "s_bits"):
        _check(name, "S", [0], node.s_bits, "s")
        widths["s"] = node.s_bits
    if isinstance(node, STBIF):
        _check(name, "s_min/s_max", [node.s_min, node.s_max], node.s_bits, "s")
        p.update(s_min=node.s_min, s_max=node.s_max, bias_R=node.bias_R)
    elif isinstance(node, IF):
        p.update(s_max=node.s_max, bias_R=node.bias_R)
    elif isinstance(node, ILIF):
        p.update(T=node.T, start=ctx["start"])
        widths["s"] = node.T + 1  # output code < 2^T
    elif isinstance(node, CaLIF):
        p.update(s_max=node.s_max, gate=bool(node.gate))
    elif isinstance(node, Readout):
        p.update(horner=bool(node.horner), start=ctx.get("start", 0), T=ctx.get("T", 0))
    if node.ROLE == "neuron":
        widths["y"] = 2
    return type(node).__name__, p, widths


def _synapse_args(name, node, bound):
    """(kind, weights as float64 integers, op params, widths) of a synapse node."""
    if bound >= 2 ** CONTAINER_BITS["a"]:
        _fail(name, f"partial sums reach {bound}, beyond the exact int{CONTAINER_BITS['a']} "
                    f"synaptic accumulator")
    widths = {"a_out": bits_for(-int(bound), int(bound))}
    if isinstance(node, (Dense, Conv2d, Scale)):
        w = node.W if hasattr(node, "W") else node.w
        _check(name, "W" if hasattr(node, "W") else "w", w, node.w_bits, "w")
        widths["w"] = node.w_bits
    if isinstance(node, Dense):
        return "dense", node.W.astype(np.float64), {}, widths
    if isinstance(node, Conv2d):
        return "conv", node.W.astype(np.float64), {"stride": node.stride, "padding": node.padding,
                                                  "groups": node.groups}, widths
    if isinstance(node, SumPool2d):
        return "pool", np.zeros(1), {"kernel": node.kernel, "stride": node.stride}, widths
    if isinstance(node, Scale):
        return "scale", np.atleast_1d(np.asarray(node.w, dtype=np.float64)), {}, widths
    if isinstance(node, Flatten):
        return "flatten", np.zeros(1), {}, widths
    _fail(name, f"no Lava mapping for synapse type {node.type!r}")


def _check_connected(graph):
    adj = {n: set() for n in graph.nodes}
    for e in graph.edges:
        adj[e.src].add(e.dst)
        adj[e.dst].add(e.src)
    seen, stack = set(), [next(iter(graph.nodes))]
    while stack:
        n = stack.pop()
        if n not in seen:
            seen.add(n)
            stack += adj[n] - seen
    if len(seen) != len(graph.nodes):
        raise MappingError(f"graph '{graph.name}': Lava runs one connected network; nodes "
                           f"{sorted(set(graph.nodes) - seen)} are not connected to the rest")


def lower(graph, x, steps, *, delay=1, record_dir):
    """Build the Lava processes for `graph` on input `x` ((B, *shape) or {source: array}).

    Returns a LavaNetwork; nothing runs yet. Per-step V, S, y go to files in `record_dir`.
    """
    from ._compat import require_lava
    require_lava()
    from . import procs as P

    g = graph if delay is None else graph.with_delays(delay)
    shapes = verify(g)
    net = Schedule(g)  # the IR's order, iLIF timing and exact synapse bounds
    q = as_inputs(g, x)  # the executors' own input check, not the oracle's
    batch = next(iter(q.values())).shape[0]
    net.check_steps(steps)  # same messages as the golden run
    if net.calif_T:
        bad = [n for n in g.neurons if not isinstance(g.nodes[n], CaLIF)]
        if bad:
            raise MappingError(f"graph '{g.name}': a Ca-LIF network settles after its window; "
                               f"nodes {bad} are not Ca-LIF")
    _check_connected(g)
    kinds = {"STBIF": P.STBIFProcess, "IF": P.IFProcess, "ILIF": P.ILIFProcess,
             "CaLIF": P.CaLIFProcess, "Readout": P.ReadoutProcess}
    procs, widths, records, errors = {}, {}, {}, {}
    for name in net.order:
        node = g.nodes[name]
        errors[name] = err = os.path.join(record_dir, f"{len(errors)}.err")
        if node.ROLE == "source":
            _check(name, "x", q[name], node.x_bits, "x")
            procs[name] = P.SourceProcess(q=q[name], encoding=node.encoding, R=node.R,
                                          T=node.T, window=steps, error=err, name=name)
            widths[name] = {"s_out": node.x_bits if node.encoding == "analog" else 2}
        elif node.ROLE == "synapse":
            e = g.inputs_of(name)[0]
            kind, w, op, widths[name] = _synapse_args(name, node, net.bound[name])
            procs[name] = P.SynapseProcess(in_shape=(batch, *shapes[e.src]),
                                           out_shape=(batch, *shapes[name]), kind=kind, w=w,
                                           op=op, delay=e.delay, error=err, name=name)
        elif isinstance(node, MaxPool2d):
            records[name] = os.path.join(record_dir, f"{len(records)}.bin")
            _check(name, "S", [0], node.s_bits, "s")
            widths[name] = {"v": node.s_bits, "s": node.s_bits, "y": node.s_bits}
            params = {"kernel": node.kernel, "stride": node.stride, "padding": node.padding,
                      "delay": g.inputs_of(name)[0].delay}
            procs[name] = P.MaxPoolProcess(in_shape=(batch, *node.in_shape), shape=(batch, *node.shape),
                                           params=params, record=records[name], error=err, name=name)
        else:
            kind, params, widths[name] = _neuron_params(name, node, net.ctx(name))
            records[name] = os.path.join(record_dir, f"{len(records)}.bin")
            shape = (batch, *node.shape)
            v_init = _bcast(params.get("v0", 0), shape)
            procs[name] = kinds[kind](shape=shape, v_init=v_init, params=params,
                                      record=records[name], error=err, name=name)
    for e in g.edges:
        src, dst = procs[e.src], procs[e.dst]
        out = src.a_out if g.nodes[e.src].ROLE == "synapse" else src.s_out
        out.connect(dst.s_in if g.nodes[e.dst].ROLE == "synapse" else dst.a_in)
    return LavaNetwork(g, net, batch, steps, procs, widths, records, errors)
