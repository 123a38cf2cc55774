"""Data the RTL is loaded and fed with, computed from the IR arrays alone.

Written from `docs/ir-format.md` with this module's own index arithmetic (no oracle code
code), so that a bug in the golden simulator cannot be copied into the hardware's data:

- `unroll`: the synapses between two spiking nodes as one integer matrix W (n_src, n_dst),
  I_dst = x_src @ W. Each synapse is a sparse matrix built from its index rule (Dense,
  Conv2d with stride/padding/groups, SumPool2d, Scale, Flatten); a chain multiplies them,
  several paths from the same node add up. int64 throughout (exact).
- `bias_rows`: the bias released at step t, floor((t+1) b / R) - floor(t b / R), t < R.
- `source_values` / `source_length`: what a Source emits at step t (analog, rate, bits).
- `check_input`: the input array a Source accepts (shape, integers, range).
"""

import numpy as np
import scipy.sparse as sp

from hwsnn.errors import MappingError
from hwsnn.ir import Conv2d, Dense, Flatten, Scale, SumPool2d
from hwsnn.mappings._inputs import check_input  # noqa: F401 (re-exported)

__all__ = ["unroll", "unroll_sparse", "synapse_matrix", "release", "bias_rows", "source_values", "source_events",
           "source_length", "check_input"]


def _flat(shape):
    return int(np.prod(shape))


def _coo(rows, cols, vals, n_in, n_out):
    keep = vals != 0
    return sp.csr_matrix((vals[keep].astype(np.int64), (rows[keep], cols[keep])), shape=(n_in, n_out),
                         dtype=np.int64)


def _conv(name, node, in_shape):
    """out[co, oy, ox] = sum W[co, cl, ky, kx] * in[g*Cg + cl, oy*sh - ph + ky, ox*sw - pw + kx]
    with g = co // (C_out / groups), zero outside the input (zero padding)."""
    cout, cin_g, kh, kw = node.W.shape
    (sh, sw), (ph, pw), groups = node.stride, node.padding, node.groups
    cin, H, W = in_shape
    if cin != cin_g * groups or cout % groups:
        raise MappingError(f"node '{name}': Conv2d input must have {cin_g * groups} channels, not {cin}")
    Ho, Wo = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    co, cl, ky, kx, oy, ox = np.meshgrid(np.arange(cout), np.arange(cin_g), np.arange(kh), np.arange(kw),
                                         np.arange(Ho), np.arange(Wo), indexing="ij")
    ci = (co // (cout // groups)) * cin_g + cl
    iy, ix = oy * sh - ph + ky, ox * sw - pw + kx
    inside = (iy >= 0) & (iy < H) & (ix >= 0) & (ix < W)
    rows = (ci * H + iy) * W + ix
    cols = (co * Ho + oy) * Wo + ox
    vals = node.W[co, cl, ky, kx]
    m = _coo(rows[inside], cols[inside], vals[inside], cin * H * W, cout * Ho * Wo)
    return m, (cout, Ho, Wo)


def _pool(node, in_shape):
    """out[c, oy, ox] = sum in[c, oy*sh + ky, ox*sw + kx] over the kh x kw window."""
    (kh, kw), (sh, sw) = node.kernel, node.stride
    C, H, W = in_shape
    Ho, Wo = (H - kh) // sh + 1, (W - kw) // sw + 1
    c, ky, kx, oy, ox = np.meshgrid(np.arange(C), np.arange(kh), np.arange(kw), np.arange(Ho),
                                    np.arange(Wo), indexing="ij")
    rows = (c * H + oy * sh + ky) * W + ox * sw + kx
    cols = (c * Ho + oy) * Wo + ox
    return _coo(rows.ravel(), cols.ravel(), np.ones(rows.size, np.int64), C * H * W, C * Ho * Wo), (C, Ho, Wo)


def synapse_matrix(name, node, in_shape):
    """(M, out_shape): the synapse as a sparse int64 matrix, out_flat = in_flat @ M."""
    in_shape = tuple(int(s) for s in in_shape)
    n = _flat(in_shape)
    if isinstance(node, Dense):
        W = np.asarray(node.W, dtype=np.int64)
        if in_shape != (W.shape[1],):
            raise MappingError(f"node '{name}': Dense input must have shape ({W.shape[1]},), not {in_shape}")
        return sp.csr_matrix(W.T), (W.shape[0],)
    if isinstance(node, Conv2d):
        if len(in_shape) != 3:
            raise MappingError(f"node '{name}': Conv2d input must be (C, H, W), not {in_shape}")
        return _conv(name, node, in_shape)
    if isinstance(node, SumPool2d):
        if len(in_shape) != 3:
            raise MappingError(f"node '{name}': SumPool2d input must be (C, H, W), not {in_shape}")
        return _pool(node, in_shape)
    if isinstance(node, Scale):
        w = np.broadcast_to(np.asarray(node.w, dtype=np.int64), in_shape).reshape(-1)
        return sp.diags(w, 0, shape=(n, n), format="csr", dtype=np.int64), in_shape
    if isinstance(node, Flatten):
        return sp.identity(n, format="csr", dtype=np.int64), (n,)
    raise MappingError(f"node '{name}': unknown synapse type {type(node).__name__!r}")


def unroll_sparse(graph, name, src):
    """Sparse int64 W (n_src, n_dst): I_dst = x_src @ W through every synapse path src -> name."""
    src_shape, dst_shape = tuple(graph.nodes[src].shape), tuple(graph.nodes[name].shape)
    n_src = _flat(src_shape)
    mats = {src: (sp.identity(n_src, format="csr", dtype=np.int64), src_shape)}
    for s in graph.topo_order():
        node = graph.nodes[s]
        if node.ROLE != "synapse":
            continue
        (e,) = graph.inputs_of(s)  # one input per synapse (the IR rule)
        if e.src in mats:
            M, shape = mats[e.src]
            A, out = synapse_matrix(s, node, shape)
            mats[s] = (M @ A, out)
    total = sp.csr_matrix((n_src, _flat(dst_shape)), dtype=np.int64)
    for e in graph.inputs_of(name):
        if e.src in mats:
            M, shape = mats[e.src]
            if _flat(shape) != _flat(dst_shape):
                raise MappingError(f"node '{name}': synapse '{e.src}' delivers shape {shape}, "
                                   f"the node has shape {dst_shape}")
            total = total + M
    return total.tocsr()


def unroll(graph, name, src):
    """Dense int64 W (n_src, n_dst) with I_dst = x_src @ W for the synapses from src to name."""
    return unroll_sparse(graph, name, src).toarray().astype(np.int64)


def release(q, t, R):
    """floor((t+1) q / R) - floor(t q / R) for 0 <= t < R, else 0 (int64; sums to q over R steps)."""
    q = np.asarray(q, dtype=np.int64)
    if t >= R or t < 0:
        return np.zeros_like(q)
    return (t + 1) * q // R - t * q // R  # numpy // on int64 is floor division


def bias_rows(bias, R):
    """(R, n) int64: the bias released at each step t < R."""
    b = np.asarray(bias, dtype=np.int64).reshape(-1)
    return np.stack([release(b, t, R) for t in range(R)]) if R else np.zeros((0, b.size), np.int64)


def source_length(node):
    """Steps a Source emits: R (analog) or T (rate, bits)."""
    return node.R if node.encoding == "analog" else node.T


def source_values(node, q, t):
    """Value Source `node` sends at step t for inputs q (int64 array)."""
    q = np.asarray(q, dtype=np.int64)
    if node.encoding == "analog":
        return release(q, t, node.R)
    if node.encoding == "rate":
        return release(q, t, node.T)
    if node.encoding == "bits":
        if t < 0 or t >= node.T:
            return np.zeros_like(q)
        return (q >> (node.T - 1 - t)) & 1  # MSB first
    raise MappingError(f"source: unknown encoding {node.encoding!r}")


def source_events(node, q, steps, delay=1):
    """Events (sample, step, index, value) the first core consumes at each step < steps: the
    source's nonzero values of step t - delay, in (sample, step, index) order. int64 (m, 4)."""
    q = np.asarray(q, dtype=np.int64)
    batch = q.shape[0]
    flat = q.reshape(batch, -1)
    rows = []
    for t in range(delay, steps):
        x = source_values(node, flat, t - delay)
        b, i = np.nonzero(x)
        rows.append(np.stack([b, np.full_like(b, t), i, x[b, i]], axis=1))
    ev = np.concatenate(rows) if rows else np.zeros((0, 4), dtype=np.int64)
    return ev[np.lexsort((ev[:, 2], ev[:, 1], ev[:, 0]))] if len(ev) else ev
