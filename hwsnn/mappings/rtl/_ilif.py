"""The iLIF pipeline back end: lower an ILIF chain (bits Source -> ILIF layers -> horner
Readout) to hwsnn.rtl.ILIFPipeline, run a stream of samples through it (one new sample every
2T cycles), and return per-sample golden-style Traces (delays 0: direct delivery)."""

import hashlib
from pathlib import Path

import numpy as np

from hwsnn.errors import BackendError, MappingError, RangeError
from hwsnn.ir import Trace, ILIF, Readout, verify
from hwsnn.rtl._ilif import ILIFLayer, ILIFPipeline
from hwsnn.rtl.sim._runner import (BUILD_ROOT, build, check_simulator, default_sim, run_bench,
                                       write_verilog)

from ._images import check_input, unroll
from ._lower import chain

__all__ = ["lower_ilif", "run_ilif"]


def lower_ilif(graph):
    """(layers, T, n_in, node names) of an ILIF chain; every edge gets delay 0."""
    verify(graph)
    graph = graph.with_delays(0)
    src = graph.nodes[graph.sources[0]] if len(graph.sources) == 1 else None
    if src is None or src.encoding != "bits":
        raise MappingError(f"graph '{graph.name}': the iLIF pipeline needs one Source with bits encoding")
    layers, names, T = [], [], src.T
    for name, prev in chain(graph):
        if isinstance(prev, (list, tuple)):  # chain lists every spiking input of a node
            if len(prev) != 1:
                raise MappingError(f"node '{name}': the iLIF pipeline takes the spikes of exactly one "
                                   f"node, not {list(prev)}")
            prev = prev[0]
        node = graph.nodes[name]
        W = unroll(graph, name, prev).T
        if isinstance(node, ILIF):
            if node.T != T:
                raise MappingError(f"node '{name}': T must equal the source's T={T}, not {node.T}")
            theta = np.broadcast_to(node.theta, node.shape).reshape(-1)
            bias = np.broadcast_to(node.bias, node.shape).reshape(-1)
            layers.append(ILIFLayer(name, "ilif", W, theta, bias, node.v_bits))
        elif isinstance(node, Readout) and node.horner:
            layers.append(ILIFLayer(name, "readout", W, np.ones(W.shape[0], int), np.zeros(W.shape[0], int),
                                    node.v_bits))
        else:
            raise MappingError(f"node '{name}': the iLIF pipeline runs ILIF nodes and a horner Readout, "
                               f"not {node.type}")
        names.append(name)
    return graph, layers, T, int(np.prod(src.shape)), names


def _unpack(hexes, n, width):
    """Hex words of n packed `width`-bit signed fields -> int array (len, n)."""
    out = np.zeros((len(hexes), n), dtype=np.int64)
    mask = (1 << width) - 1
    for r, h in enumerate(hexes):
        v = int(str(h), 16)
        for i in range(n):
            f = (v >> (i * width)) & mask
            out[r, i] = f - (1 << width) if f >> (width - 1) else f
    return out


def run_ilif(graph, x, steps=None, sim=None):
    """Stream the samples x (batch, *shape) through the pipeline, one every 2T cycles.

    Returns (trace, info): a Trace per sample at local steps 0 .. steps-1 (default: the last
    layer's window end), with `trace.graph` the delay-0 graph; info: the cycle at which each
    sample's code was complete (code_valid) and the cycles between them."""
    sim = default_sim(sim)
    check_simulator(sim)
    graph, layers, T, n_in, names = lower_ilif(graph)
    src_name = graph.sources[0]
    x = x[src_name] if isinstance(x, dict) else x
    q = check_input(src_name, graph.nodes[src_name], x)
    q = q.reshape(q.shape[0], -1)
    batch, nl = q.shape[0], len(layers)
    n_ilif = sum(layer.kind == "ilif" for layer in layers)
    steps = steps or (n_ilif + 1) * T
    if steps > 4 * T:  # bank j is reused by sample s + 2 at local step 4T + kT
        raise BackendError(f"iLIF pipeline: a trace covers at most 4T={4 * T} steps per sample, not {steps}")
    n_cycles = 2 * T * (batch - 1) + steps
    words = np.zeros(n_cycles, dtype=object)
    for s in range(batch):
        for t in range(T):
            bits = (q[s] >> (T - 1 - t)) & 1
            words[2 * T * s + t] = sum(int(b) << i for i, b in enumerate(bits))
    key = hashlib.sha1(repr([(l.kind, l.W.tolist(), l.theta.tolist(), l.bias.tolist(), l.v_bits)
                             for l in layers] + [T]).encode())
    import hwsnn.rtl._ilif as rtl_ilif
    key.update(Path(rtl_ilif.__file__).read_bytes())  # RTL edits rebuild
    build_dir = BUILD_ROOT / "ilif" / f"{sim}-{key.hexdigest()[:12]}"
    build_dir.mkdir(parents=True, exist_ok=True)
    stamp = build_dir / "built.ok"
    if stamp.exists():  # same design and simulator: reuse the build
        from cocotb_tools.runner import get_runner
        runner = get_runner(sim)
    else:
        src = build_dir / "hwsnn_ilif.v"
        write_verilog(ILIFPipeline(layers, T, n_in), "hwsnn_ilif", src)
        runner = build([src], "hwsnn_ilif", build_dir, sim)
        stamp.write_text("ok")
    data, out = build_dir / "data.npz", build_dir / "out.npz"
    np.savez(data, x_words=np.array([f"{int(w):x}" for w in words]), nlayers=nl)
    if out.exists():
        out.unlink()
    if not run_bench(runner, "hwsnn_ilif", "bench_ilif", build_dir, data, out) or not out.exists():
        raise BackendError(f"iLIF pipeline ({sim}): the bench failed; see {build_dir / 'run' / 'sim.log'}")
    rec = np.load(out)
    if int(rec["ovf"][0]):
        raise RangeError("iLIF pipeline: a membrane V left its v_bits register")
    V, S, Y, valid = {}, {}, {}, {}
    for k, (layer, name) in enumerate(zip(layers, names)):
        shape = graph.nodes[name].shape
        # what was read from the hardware: a layer's state from its window on, its spikes in
        # its generate window; the zeros elsewhere are not compared (Trace.valid)
        t_axis = np.arange(steps).reshape(steps, 1, *([1] * len(shape)))
        state_ok = np.broadcast_to(t_axis >= k * T, (steps, batch, *([1] * len(shape))))
        valid[name] = {"V": state_ok, "S": state_ok,
                       "y": np.broadcast_to((t_axis >= k * T + T) & (t_axis < k * T + 2 * T),
                                            (steps, batch, *([1] * len(shape))))}
        banks = [_unpack(rec[f"v{j}_{k}"], layer.n, layer.v_bits) for j in (0, 1)]
        sbanks = [_unpack(rec[f"s{j}_{k}"], layer.n, T + 1) for j in (0, 1)]
        y = _unpack(rec[f"y{k}"], layer.n, 1) & 1
        v_arr = np.zeros((steps, batch, layer.n), dtype=np.int64)
        s_arr, y_arr = np.zeros_like(v_arr), np.zeros_like(v_arr)
        start = k * T
        for s in range(batch):
            for t in range(start, steps):  # before its window a layer has not touched the sample
                c = 2 * T * s + t
                v_arr[t, s], s_arr[t, s] = banks[s % 2][c + 1], sbanks[s % 2][c + 1]  # after step c
                if layer.kind == "ilif" and start + T <= t < start + 2 * T:
                    y_arr[t, s] = y[c]
        V[name] = v_arr.reshape(steps, batch, *shape)
        if layer.kind == "ilif":
            S[name], Y[name] = s_arr.reshape(steps, batch, *shape), y_arr.reshape(steps, batch, *shape)
    final = {n: {"V": V[n][-1], "S": S[n][-1] if n in S else np.zeros_like(V[n][-1])} for n in names}
    spikes = {n: np.abs(Y[n]).sum(axis=0) for n in Y}
    trace = Trace(steps=steps, batch=batch, final=final, t_eq=np.full(batch, steps),
                  settled=np.ones(batch, dtype=bool), spikes=spikes, V=V, S=S, y=Y,
                  readouts=tuple(n for n in names if n in graph.readouts), graph=graph, valid=valid)
    done_at = np.nonzero(np.asarray(rec["code_valid"]))[0]
    info = {"T": T, "code_cycles": done_at.tolist(), "intervals": np.diff(done_at).tolist(),
            "cycles": n_cycles}
    return trace, info
