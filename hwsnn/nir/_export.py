"""hwsnn integer IR -> NIR file, for what NIR expresses exactly: CUBALIF (as NIR LIF, CubaLIF or
IF, reset to zero), Dense/Conv2d (Linear, Affine, Conv2d), SumPool2d, Flatten, Scale, Readout.

The floats written are the IR's integers in one unit per layer (scale k = 1: weights W * 2^w_exp,
threshold vth, bias (bias_mant * 2^bias_exp) / 64), with tau = dt / (dv / 4096) and
r = 1 / (dt/tau), so `import-nir` with the same --dt and --w-bits gives the same integers back.
Anything NIR cannot state (ST-BIF, bipolar spikes, subtractive reset, iLIF, Ca-LIF, max pooling,
delay-0 edges) is a NIRError naming the node: no lossy export.
"""

import os
import tempfile

import numpy as np

from ..errors import NIRError

__all__ = ["export_nir", "to_nir"]

_WHY = {
    "STBIF": "ST-BIF (bipolar spikes, spike tracer, subtractive reset)",
    "IF": "hwsnn's IF (subtractive reset; NIR's IF resets to v_reset)",
    "ILIF": "iLIF (inverse leak, accumulate/generate phases)",
    "CaLIF": "Ca-LIF (bipolar spikes, subtractive reset, settle phase)",
    "MaxPool2d": "MaxPool2d (NIR has no max pooling)",
}


def _fail(name, msg):
    raise NIRError(f"node {name!r}: {msg}")


def _neuron(nir, name, node, dt):
    shape = tuple(node.shape)
    full = np.ones(shape)
    B = np.broadcast_to(node.bias_mant * 2.0 ** node.bias_exp, shape).astype(np.float64) / 64
    thr = full * float(node.vth)
    if node.du == 4095 and node.dv == 0:   # the bias, if any, went to its synapse (_if_bias)
        return nir.IF(r=full / dt, v_threshold=thr, v_reset=0 * full)
    if node.dv == 0:
        _fail(name, "NIR's CubaLIF cannot state a current decay without a voltage decay (dv = 0)")
    dm = node.dv / 4096
    tau, r, v_leak = full * (dt / dm), full / dm, B / dm
    if node.du == 4095:
        return nir.LIF(tau=tau, r=r, v_leak=v_leak, v_threshold=thr, v_reset=0 * full)
    ds = (node.du + 1) / 4096
    return nir.CubaLIF(tau_syn=full * (dt / ds), tau_mem=tau, r=r, v_leak=v_leak,
                       v_threshold=thr, v_reset=0 * full, w_in=full / ds)


def _if_bias(graph):
    """{synapse: bias (float, its output shape)}: NIR's IF has no bias term, so the bias of a
    CUBALIF without decays (du = 4095, dv = 0) goes to its one Dense/Conv2d (per channel)."""
    out = {}
    for name in graph.neurons:
        node = graph.nodes[name]
        if node.type != "CUBALIF" or (node.du, node.dv) != (4095, 0) or not np.any(node.bias_mant):
            continue
        ins = graph.inputs_of(name)
        B = np.broadcast_to(node.bias_mant * 2.0 ** node.bias_exp, node.shape) / 64
        syn = graph.nodes[ins[0].src] if len(ins) == 1 else None
        if syn is not None and syn.type == "Conv2d":
            per_c = B.reshape(B.shape[0], -1)
            if np.all(per_c == per_c[:, :1]):
                out[ins[0].src] = per_c[:, 0]
                continue
        elif syn is not None and syn.type == "Dense":
            out[ins[0].src] = B.reshape(-1)
            continue
        _fail(name, "NIR's IF has no bias: a CUBALIF with dv = 0 needs its bias on one Dense, or "
                    "one Conv2d with one bias per channel")
    return out


def _synapse(nir, name, node, in_shape, bias=None):
    kind = node.type
    if kind == "Dense":
        w = node.W.astype(np.float64) * 2.0 ** node.w_exp
        return nir.Linear(weight=w) if bias is None else nir.Affine(weight=w, bias=bias)
    if kind == "Conv2d":
        w = node.W.astype(np.float64) * 2.0 ** node.w_exp
        return nir.Conv2d(input_shape=tuple(in_shape[1:]), weight=w, stride=node.stride,
                          padding=node.padding, dilation=(1, 1), groups=node.groups,
                          bias=np.zeros(w.shape[0]) if bias is None else bias)
    if kind == "SumPool2d":
        return nir.SumPool2d(kernel_size=np.array(node.kernel), stride=np.array(node.stride),
                             padding=np.array([0, 0]))
    if kind == "Flatten":
        return nir.Flatten(input_type={"input": np.array(in_shape)}, start_dim=0, end_dim=-1)
    if kind == "Scale":
        return nir.Scale(scale=np.broadcast_to(node.w, in_shape).astype(np.float64))
    _fail(name, f"NIR cannot express {kind}")


def to_nir(graph, dt):
    """nir.NIRGraph of an IR graph (NIRError for anything NIR cannot express exactly)."""
    import nir

    from .. import ir

    if not dt > 0:
        raise NIRError(f"--dt must be a positive number of seconds, not {dt!r}")
    shapes = ir.verify(graph)
    for name, node in graph.nodes.items():
        if node.type in _WHY:
            _fail(name, f"NIR cannot express {_WHY[node.type]}; export refused (no lossy export)")
        if node.type == "Readout" and node.horner:
            _fail(name, "NIR cannot express a Horner readout (iLIF); export refused")
    for e in graph.edges:
        if graph.nodes[e.src].ROLE in ("source", "neuron") and e.delay != 1:
            _fail(e.src, f"edge to {e.dst!r} has delay {e.delay}: NIR states Loihi's timing only "
                         f"(delay 1 out of every Source and neuron); export refused")
    nodes, edges, skip, biases = {}, [], set(), _if_bias(graph)
    for name in graph.topo_order():
        node = graph.nodes[name]
        ins = graph.inputs_of(name)
        if node.ROLE == "source":
            nodes[name] = nir.Input(input_type=np.array(node.shape))
        elif node.ROLE == "neuron":
            nodes[name] = _neuron(nir, name, node, dt)
        elif node.ROLE == "readout":
            nodes[name] = nir.Output(output_type=np.array(node.shape))
        elif node.type == "Scale" and np.all(node.w == 1) and len(ins) == 1 and \
                all(graph.nodes[e.dst].ROLE == "readout" for e in graph.outputs_of(name)):
            skip.add(name)   # the spike-count link of an imported Output
            continue
        else:
            nodes[name] = _synapse(nir, name, node, shapes[ins[0].src], biases.get(name))
    for e in graph.edges:
        if e.dst in skip:
            continue
        src = e.src
        while src in skip:
            src = graph.inputs_of(src)[0].src
        edges.append((src, e.dst))
    return nir.NIRGraph(nodes=nodes, edges=edges)


def export_nir(graph, path, dt):
    """Write `graph` as a NIR file at `path` (atomically: a temporary file, then rename)."""
    import nir

    g = to_nir(graph, dt)
    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        os.makedirs(folder, exist_ok=True)   # as ir.save
        fd, tmp = tempfile.mkstemp(suffix=".nir", dir=folder)
        os.close(fd)
        nir.write(tmp, g)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        raise NIRError(f"NIR file '{path}' cannot be written: {exc}") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return g


def _umask():
    m = os.umask(0)
    os.umask(m)
    return m
