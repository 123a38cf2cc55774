"""Shared kernels for synapse paths, and their exactness check on probe vectors.

- `path_kernel`: a path of conv-like synapses (SumPool2d of any kernel/stride, Conv2d of any
  stride/padding/groups, a per-channel Scale) composed into one ConvTable over the source's
  pixels: A then B is one conv with K[co, ci, kb*sa + ka] = sum_m Kb[co, m, kb] Ka[m, ci, ka],
  stride sa*sb, padding pb*sa + pa. A grouped (or depthwise) Conv2d is its block-diagonal
  kernel. Source pixels that the first synapse never reads (cut by a floor) get row -1.
  The composition is exact in the interior; at the borders it may not be (a later conv's zero
  padding over an earlier window that reaches real pixels), so every kernel is checked.
- `probe_check`: the kernels of every path src -> name against the synapses themselves on
  random integer probe vectors (each synapse applied as the IR defines it, float64 with every
  partial sum below 2^53, hence exact integers). A wrong table differs on a probe of values
  uniform in [-2^15, 2^15) with probability >= 1 - 2^-16 per probe; 2 probes. Cost: a few convs of
  the layer, linear in its weights (the unrolled matrix is never built).
"""

import numpy as np
import torch
import torch.nn.functional as F

from hwsnn.ir import Conv2d, Dense, Flatten, Scale, SumPool2d
from hwsnn.rtl._config import ConvTable

__all__ = ["path_kernel", "probe_check", "PROBES"]

PROBES = 2
PROBE_BITS = 15  # probe values in [-2^15, 2^15)
EXACT = 1 << 52  # float64 holds every integer below this exactly


def _as_conv(node, shape):
    """(K (Cout, Cin, KH, KW), stride, pad, out_shape) of one synapse, or (None, why). K of a
    Conv2d keeps the IR's integer dtype (int16: a block-diagonal kernel is 4x smaller than in
    int64); the others are int64."""
    C, H, W = shape
    if isinstance(node, Conv2d):
        Co, Cg, kh, kw = node.W.shape
        g = node.groups
        if Cg * g != C or Co % g:
            return None, "Conv2d channels do not match its input"
        Wn = np.asarray(node.W)
        Wn = Wn if Wn.dtype.kind == "i" else Wn.astype(np.int64)
        K = np.zeros((Co, C, kh, kw), Wn.dtype)
        Kg, Wg = K.reshape(g, Co // g, g, Cg, kh, kw), Wn.reshape(g, Co // g, Cg, kh, kw)
        for i in range(g):  # block diagonal: group i's outputs read group i's inputs
            Kg[i, :, i] = Wg[i]
        stride, pad = node.stride, node.padding
    elif isinstance(node, SumPool2d):
        (kh, kw), stride, pad = node.kernel, node.stride, (0, 0)
        K = np.zeros((C, C, kh, kw), np.int64)
        K[np.arange(C), np.arange(C)] = 1
    elif isinstance(node, Scale):
        per_c = np.broadcast_to(np.asarray(node.w, np.int64), shape)
        if not (per_c == per_c[:, :1, :1]).all():
            return None, "Scale is not per channel"
        K = np.zeros((C, C, 1, 1), np.int64)
        K[np.arange(C), np.arange(C), 0, 0] = per_c[:, 0, 0]
        kh = kw = 1
        stride, pad = (1, 1), (0, 0)
    else:
        return None, f"{type(node).__name__} is not conv-like"
    Ho = (H + 2 * pad[0] - kh) // stride[0] + 1
    Wo = (W + 2 * pad[1] - kw) // stride[1] + 1
    return (K, tuple(stride), tuple(pad), (K.shape[0], Ho, Wo)), ""


def _compose(a, b):
    """One conv equal to conv a then conv b (away from b's padded borders)."""
    Ka, (sah, saw), (pah, paw) = a
    Kb, (sbh, sbw), (pbh, pbw) = b
    Ka, Kb = Ka.astype(np.int64, copy=False), Kb.astype(np.int64, copy=False)  # sums of products: int64
    Co, M, hb, wb = Kb.shape
    _, Ci, ha, wa = Ka.shape
    K = np.zeros((Co, Ci, (hb - 1) * sah + ha, (wb - 1) * saw + wa), np.int64)
    for yb in range(hb):
        for xb in range(wb):
            kb = Kb[:, :, yb, xb]
            if not kb.any():
                continue
            for ya in range(ha):
                for xa in range(wa):
                    K[:, :, yb * sah + ya, xb * saw + xa] += kb @ Ka[:, :, ya, xa]
    return K, (sah * sbh, saw * sbw), (pbh * sah + pah, pbw * saw + paw)


def path_kernel(graph, path, src, dst_shape, max_words):
    """(ConvTable, "") for a path of conv-like synapses, or (None, why not). `max_words`: the
    largest kernel (C * Cin * KH * KW) worth building."""
    shape = tuple(int(d) for d in graph.nodes[src].shape)
    if len(shape) != 3 or len(dst_shape) != 3 or not path:
        return None, "not a (C, H, W) -> (C, H, W) path"
    conv, first, cur = None, None, shape
    for name in path:
        node = graph.nodes[name]
        if isinstance(node, Conv2d) and node.W.shape[0] * cur[0] * int(np.prod(node.W.shape[2:])) > max_words:
            return None, f"'{name}': kernel of more than {max_words} words"
        got, why = _as_conv(node, cur)
        if got is None:
            return None, f"'{name}': {why}"
        K, stride, pad, cur = got
        if first is None:
            first = (K.shape[2:], stride, pad, cur[1:])
        if conv is not None and conv[0].size * K.shape[0] // max(1, K.shape[1]) > 4 * max_words:
            return None, f"composed kernel over {max_words} words"
        conv = (K, stride, pad) if conv is None else _compose(conv, (K, stride, pad))
    if tuple(cur) != tuple(dst_shape):
        return None, f"path delivers {cur}, node is {tuple(dst_shape)}"
    if conv[0].size > max_words:
        return None, f"kernel of {conv[0].size} words (more than {max_words})"
    (kh, kw), (sh, sw), (ph, pw), (Ho, Wo) = first
    C, H, W = shape
    c, y, x = np.meshgrid(np.arange(C), np.arange(H), np.arange(W), indexing="ij")
    read = (y <= (Ho - 1) * sh - ph + kh - 1) & (x <= (Wo - 1) * sw - pw + kw - 1)
    rows = np.stack([np.where(read, c, -1), np.where(read, y, -1), np.where(read, x, -1)], -1)
    return ConvTable(conv[0], conv[1], conv[2], rows.reshape(-1, 3), shape), ""


def _apply(node, x, shape):
    """Synapse `node` on a batch x (B, *shape) of float64 integers, as docs/ir-format.md defines it."""
    if isinstance(node, Dense):
        return x @ torch.from_numpy(np.asarray(node.W, np.float64)).T
    if isinstance(node, Flatten):
        return x.reshape(len(x), -1)
    if isinstance(node, Scale):
        return x * torch.from_numpy(np.broadcast_to(np.asarray(node.w, np.float64), shape).copy())
    if isinstance(node, Conv2d):
        W = torch.from_numpy(np.asarray(node.W, np.float64))
        if node.groups == 1:
            return F.conv2d(x, W, stride=node.stride, padding=node.padding)
        return _grouped(x, W, node.stride, node.padding, node.groups)
    if isinstance(node, SumPool2d):
        C = shape[0]
        return _grouped(x, torch.ones((C, 1) + tuple(node.kernel), dtype=torch.float64), node.stride, (0, 0), C)
    raise TypeError(type(node).__name__)


def _grouped(x, W, stride, pad, groups):
    """Grouped conv (torch's float64 grouped conv is slow): out[co] = sum over the kernel
    positions of W[co, :, ky, kx] . (strided slice of the zero-padded input of co's group)."""
    B, C, H, Wd = x.shape
    Co, Cg, kh, kw = W.shape
    (sh, sw), (ph, pw) = stride, pad
    Ho, Wo = (H + 2 * ph - kh) // sh + 1, (Wd + 2 * pw - kw) // sw + 1
    xp = F.pad(x, (pw, pw, ph, ph)).reshape(B, groups, Cg, H + 2 * ph, Wd + 2 * pw)
    Wg = W.reshape(groups, Co // groups, Cg, kh, kw)
    out = torch.zeros((B, groups, Co // groups, Ho, Wo), dtype=torch.float64)
    for ky in range(kh):
        for kx in range(kw):
            xs = xp[:, :, :, ky:ky + (Ho - 1) * sh + 1:sh, kx:kx + (Wo - 1) * sw + 1:sw]
            out += torch.einsum("bgchw,goc->bgohw", xs, Wg[:, :, :, ky, kx])
    return out.reshape(B, Co, Ho, Wo)


def _bound(node):
    """Largest sum of |weights| into one output of a synapse."""
    if isinstance(node, (Dense, Conv2d)):
        W = np.abs(np.asarray(node.W, np.int64))
        return int(W.reshape(W.shape[0], -1).sum(1).max(initial=0))
    if isinstance(node, SumPool2d):
        return int(np.prod(node.kernel))
    if isinstance(node, Scale):
        return int(np.abs(np.asarray(node.w, np.int64)).max(initial=0))
    return 1


def _synapses(graph, name, src, x):
    """The input of `name` from `src` for probe batch x, through every synapse path."""
    vals = {src: (x, 1)}
    for s in graph.topo_order():
        node = graph.nodes[s]
        if node.ROLE != "synapse":
            continue
        (e,) = graph.inputs_of(s)
        if e.src in vals:
            v, b = vals[e.src]
            vals[s] = (_apply(node, v, tuple(v.shape[1:])), b * _bound(node))
    total, bound = 0, 0
    for e in graph.inputs_of(name):
        if e.src in vals:
            v, b = vals[e.src]
            total, bound = total + v.reshape(len(x), -1), bound + b
    return total, bound


def _table_input(ct, layout, x):
    """What kernel table `ct` adds to the core's neurons for probe batch x (B, n_rows)."""
    C, Cin, KH, KW = ct.K.shape
    (sh, sw), (ph, pw) = ct.stride, ct.pad
    c, iy, ix = ct.rows.T
    ok = c >= 0
    Hi = max(int(iy.max(initial=0)) + 1, (layout.H - 1) * sh + KH - 2 * ph, 1)
    Wi = max(int(ix.max(initial=0)) + 1, (layout.W - 1) * sw + KW - 2 * pw, 1)
    img = torch.zeros((len(x), Cin * Hi * Wi), dtype=torch.float64)
    idx = torch.from_numpy((c[ok] * Hi + iy[ok]) * Wi + ix[ok])
    img.index_add_(1, idx, x[:, torch.from_numpy(np.nonzero(ok)[0])])
    out = F.conv2d(img.reshape(len(x), Cin, Hi, Wi), torch.from_numpy(ct.K.astype(np.float64)),
                   stride=(sh, sw), padding=(ph, pw))
    if out.shape[2] < layout.H or out.shape[3] < layout.W:
        return None
    return out[:, :, :layout.H, :layout.W].reshape(len(x), -1)


def probe_check(graph, name, src, kernels, layout, seed=0):
    """True when the kernel tables give exactly the synapses src -> name (see the module doc)."""
    n_src = int(np.prod(graph.nodes[src].shape))
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(-(1 << PROBE_BITS), 1 << PROBE_BITS, (PROBES, n_src), generator=gen).to(torch.float64)
    want, bound = _synapses(graph, name, src, x.reshape((PROBES,) + tuple(graph.nodes[src].shape)))
    kbound = sum(int(np.abs(k.K, dtype=np.int64).reshape(k.K.shape[0], -1).sum(1).max(initial=0)) for k in kernels)
    if (max(bound, kbound) << PROBE_BITS) >= EXACT:
        return False
    got = 0
    for k in kernels:
        part = _table_input(k, layout, x)
        if part is None:
            return False
        got = got + part
    return isinstance(want, torch.Tensor) and bool(torch.equal(want, got))
