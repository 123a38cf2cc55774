"""Synapse chains folded into one sparse integer matrix each: who a spike reaches, and how.

A *chain* is a path of synapse nodes from a spiking node (Source or neuron) to a stateful node
(neuron or Readout). Its folded matrix M (n_dst x n_src, indices are C-order flat indices of
the node shapes) is the current the chain delivers, I_dst = M @ x_src; it is what a core holds
in synapse memory. Flatten keeps C-order flat indices unchanged, so it is the identity here.

fan-out of source neuron i = number of nonzero entries in column i of M (the synapses one
spike of i reads: one weight read and one accumulate each). For a chain with one weighted
stage this is exactly the number of nonzero weights the spike touches (a Conv2d tap that
lands in the padding or is skipped by the stride touches nothing). For a chain with several
weighted stages (SumPool2d -> Dense, ...) it counts the nonzero entries of the product, i.e.
the synapses of the folded layer a mapper programs into the core.
"""

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from ..errors import IRError
from ._nodes import Conv2d, Dense, Flatten, Scale, SumPool2d
from ._verify import out_shape, verify

__all__ = ["Chain", "chains", "stage_matrix", "ann_ops"]


def _flat(shape, *idx):
    return np.ravel_multi_index(idx, shape)


def _conv_matrix(node, in_shape):
    W = node.W
    cout, cin_g, kh, kw = W.shape
    _, H, Wd = in_shape
    _, Ho, Wo = out_shape("conv", node, in_shape)
    (sh, sw), (ph, pw) = node.stride, node.padding
    per_group = cout // node.groups
    co, oy, ox = np.meshgrid(np.arange(cout), np.arange(Ho), np.arange(Wo), indexing="ij")
    co, oy, ox = co.ravel(), oy.ravel(), ox.ravel()
    rows, cols, vals = [], [], []
    for ci in range(cin_g):
        for ky in range(kh):
            for kx in range(kw):
                w = W[co, ci, ky, kx]
                iy, ix = oy * sh - ph + ky, ox * sw - pw + kx
                ok = (w != 0) & (iy >= 0) & (iy < H) & (ix >= 0) & (ix < Wd)
                c_in = (co // per_group) * cin_g + ci
                rows.append(_flat((cout, Ho, Wo), co[ok], oy[ok], ox[ok]))
                cols.append(_flat(in_shape, c_in[ok], iy[ok], ix[ok]))
                vals.append(w[ok])
    n_out, n_in = cout * Ho * Wo, int(np.prod(in_shape))
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(n_out, n_in), dtype=np.int64)


def _pool_matrix(node, in_shape):
    C, H, Wd = in_shape
    _, Ho, Wo = out_shape("pool", node, in_shape)
    (kh, kw), (sh, sw) = node.kernel, node.stride
    c, oy, ox = (a.ravel() for a in np.meshgrid(np.arange(C), np.arange(Ho), np.arange(Wo), indexing="ij"))
    rows, cols = [], []
    for ky in range(kh):
        for kx in range(kw):
            rows.append(_flat((C, Ho, Wo), c, oy, ox))
            cols.append(_flat(in_shape, c, oy * sh + ky, ox * sw + kx))
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    return sp.csr_matrix((np.ones(rows.size, np.int64), (rows, cols)),
                         shape=(C * Ho * Wo, C * H * Wd), dtype=np.int64)


def stage_matrix(name, node, in_shape):
    """Sparse (n_out, n_in) int64 matrix of one synapse node (explicit zeros removed)."""
    n_in = int(np.prod(in_shape))
    if isinstance(node, Dense):
        m = sp.csr_matrix(node.W.astype(np.int64))
    elif isinstance(node, Conv2d):
        m = _conv_matrix(node, tuple(in_shape))
    elif isinstance(node, SumPool2d):
        m = _pool_matrix(node, tuple(in_shape))
    elif isinstance(node, Scale):
        m = sp.diags(np.broadcast_to(node.w, in_shape).ravel().astype(np.int64), format="csr",
                     dtype=np.int64)
    elif isinstance(node, Flatten):
        m = sp.identity(n_in, dtype=np.int64, format="csr")
    else:
        raise IRError(f"node '{name}': {node.type} is not a synapse")
    m.eliminate_zeros()
    return m


@dataclass(frozen=True, eq=False)
class Chain:
    """Synapse path `src` -> synapses... -> `dst`; `delay` = sum of its edge delays;
    `matrix` (n_dst, n_src) the folded integer weights."""

    src: str
    dst: str
    synapses: tuple
    delay: int
    matrix: sp.csr_matrix

    @property
    def label(self):
        return " -> ".join((self.src, *self.synapses, self.dst))

    @cached_property
    def fanout(self):
        """(n_src,) int64: synapses one spike of each source neuron reads."""
        return np.diff(self.matrix.tocsc().indptr).astype(np.int64)

    @cached_property
    def fanin(self):
        """(n_dst,) int64: synapses ending in each destination neuron."""
        return np.diff(self.matrix.indptr).astype(np.int64)

    @cached_property
    def reach(self):
        """(n_src, n_dst) 0/1 float64 matrix: x @ reach > 0 where a nonzero input arrives."""
        m = self.matrix.copy()
        m.data = np.ones_like(m.data, dtype=np.float64)
        return m.T.tocsr().astype(np.float64)


def chains(graph):
    """Every chain of `graph`, in topological order of the destination. Returns [Chain]."""
    shapes = verify(graph)
    out = []
    order = graph.topo_order()

    def walk(src, node_name, path, delay, mat):
        for e in graph.outputs_of(node_name):
            node = graph.nodes[e.dst]
            if node.ROLE == "synapse":
                m = stage_matrix(e.dst, node, shapes[node_name]) @ mat
                m.eliminate_zeros()
                walk(src, e.dst, path + (e.dst,), delay + e.delay, m)
            elif node.ROLE in ("neuron", "readout") and node.type != "MaxPool2d":  # no synapses
                out.append(Chain(src, e.dst, path, delay + e.delay, mat.tocsr()))

    for name in order:
        if graph.nodes[name].ROLE in ("source", "neuron"):
            n = int(np.prod(shapes[name]))
            walk(name, name, (), 0, sp.identity(n, dtype=np.int64, format="csr"))
    rank = {n: i for i, n in enumerate(order)}
    out.sort(key=lambda c: (rank[c.dst], rank[c.src]))
    return out


def ann_ops(graph, chain, shapes=None):
    """Dense operations of the source ANN for this chain: {"macs", "adds"} (ints).

    Dense: out*in MACs. Conv2d: C_out*H_out*W_out*(C_in/groups)*kh*kw MACs (every tap, the
    padding included, as ANN counters do). SumPool2d: kh*kw adds per output. Scale: one add
    per element (the residual sum). Flatten: nothing. FLOPs = 2*MACs + adds.
    """
    shapes = shapes or verify(graph)
    macs = adds = 0
    for name in chain.synapses:
        node = graph.nodes[name]
        n_out = int(np.prod(shapes[name]))
        if isinstance(node, Dense):
            macs += int(node.W.size)
        elif isinstance(node, Conv2d):
            macs += n_out * int(np.prod(node.W.shape[1:]))
        elif isinstance(node, SumPool2d):
            adds += n_out * node.kernel[0] * node.kernel[1]
        elif isinstance(node, Scale):
            adds += n_out
    return {"macs": macs, "adds": adds, "flops": 2 * macs + adds}
