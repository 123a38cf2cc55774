"""Concatenations computed by one core.

A layer applied to `torch.cat` of several tensors (DenseNet: BatchNorm + ReLU on the features
of every earlier layer) becomes one neuron node per part in the IR (`part_groups` finds them:
same neuron type and scalar parameters, same H x W, read by exactly the same nodes). One core
per part made densenet121 658 cores. Here the parts of such a group become one core whose
channels are the parts side by side (part j: channels c_j .. c_j + C_j - 1, neurons c_j*H*W ..
(c_j + C_j)*H*W - 1 of the core, in the IR's (C, H, W) order):

- its tables are the parts' kernel tables, each walking only its part's channel groups
  (`ConvTable.c0` = c_j, a multiple of the core's lanes: lanes = gcd(lanes, every c_j));
- a reader of the parts gets one table from the core: the parts' kernels side by side along
  the input channels (rows of part j with their channel moved by the channels before it), or
  the parts' dense rows stacked;
- its theta, v0 and bias rows are the parts' (bias rows padded with zero rows to the longest
  release: row t is issued at step t < bias_R, so a zero row adds nothing);
- its V register is the widest part's (v_bits); a part's own narrower register is checked on
  the records after the run (`_overflow.check_overflow`), the RangeError golden raises.

A group whose parts or readers have any other table (a dense table into a part, two paths
from one part, kernels of different shapes) keeps one core per part.
"""

from dataclasses import replace
from math import gcd

import numpy as np

from hwsnn.ir import IF, STBIF, MaxPool2d
from hwsnn.rtl import CoreConfig
from hwsnn.rtl._config import ConvLayout, Table

__all__ = ["part_groups", "combined_table", "merge_parts", "group_name", "NotMergeable"]


class NotMergeable(Exception):
    """A group's parts cannot be one core (why); lowering keeps one core per part."""


_SCALARS = ("s_min", "s_max", "s_bits")  # v_bits may differ: the core's V is the widest part's


def part_groups(graph, order):
    """Groups (lists of >= 2 neuron node names, in topological order) whose nodes are read by
    exactly the same neuron/readout nodes and share type, H x W and scalar parameters."""
    readers = {}
    for name, srcs in order:
        for s in srcs:
            readers.setdefault(s, []).append(name)
    found = {}
    for name, _ in order:
        node = graph.nodes[name]
        if type(node) not in (STBIF, IF) or len(node.shape) != 3 or name not in readers:
            continue
        if any(isinstance(graph.nodes[r], MaxPool2d) for r in readers[name]):
            continue
        key = (tuple(readers[name]), type(node).__name__, tuple(node.shape[1:]),
               tuple(getattr(node, a, None) for a in _SCALARS))
        found.setdefault(key, []).append(name)
    return [g for g in found.values() if len(g) > 1]


def group_name(parts):
    """The core's name: the parts' common prefix up to a '.', then its first and last part
    (unique: two groups never share a part)."""
    prefix = parts[0]
    for p in parts[1:]:
        while not p.startswith(prefix):
            prefix = prefix[:-1]
    cut = prefix.rfind(".") + 1
    return f"{parts[0][:cut].rstrip('.') or 'concat'}[{parts[0][cut:]}..{parts[-1][cut:]}]"


def combined_table(part_tables, part_rows, name):
    """One Table from the group's core into a reader: `part_tables` (per part, the reader's
    tables from that part), `part_rows` (neurons per part). Raises NotMergeable."""
    if any(len(t) != 1 for t in part_tables):
        raise NotMergeable(f"a part reaches '{name}' through {max(len(t) for t in part_tables)} paths")
    ts = [t[0] for t in part_tables]
    n_rows = int(sum(part_rows))
    if all(t.zero for t in ts):
        return Table(n_rows, zero=True, name=name)
    if all(t.dense is not None or t.zero for t in ts):
        n = next(t.dense.shape[1] for t in ts if not t.zero)
        dtype = np.result_type(*[t.dense.dtype for t in ts if not t.zero])
        return Table(n_rows, dense=np.concatenate([np.zeros((t.n_rows, n), dtype) if t.zero else t.dense
                                                   for t in ts]), name=name)
    if not all(t.conv is not None or t.zero for t in ts):
        raise NotMergeable("dense and kernel tables into one reader")
    convs = [t.conv for t in ts if not t.zero]
    first = convs[0]
    for c in convs[1:]:
        if (c.K.shape[0], c.K.shape[2:], c.stride, c.pad) != (first.K.shape[0], first.K.shape[2:], first.stride,
                                                               first.pad):
            raise NotMergeable("the parts' kernels differ in shape, stride or padding")
    rows, Ks, cin = [], [], 0
    for t in ts:
        if t.zero:
            rows.append(np.full((t.n_rows, 3), -1, np.int64))
            continue
        r = np.array(t.conv.rows, np.int64)
        r[r[:, 0] >= 0, 0] += cin
        rows.append(r)
        Ks.append(t.conv.K)
        cin += t.conv.K.shape[1]
    shapes = [t.conv.src_shape for t in ts if not t.zero]
    src_shape = None
    if len(shapes) == len(ts) and all(s is not None and s[1:] == shapes[0][1:] for s in shapes):
        src_shape = (sum(s[0] for s in shapes),) + tuple(shapes[0][1:])
    conv = replace(first, K=np.concatenate(Ks, axis=1), rows=np.concatenate(rows), src_shape=src_shape, c0=0)
    return Table(n_rows, conv=conv, name=name)


def merge_parts(name, cfgs, lanes):
    """One CoreConfig computing the part cores `cfgs` (see the module doc). Raises NotMergeable."""
    first = cfgs[0]
    if any(c.layout is None or c.kind not in ("stbif", "if") or c.window for c in cfgs):
        raise NotMergeable("a part is not a channel-placed ST-BIF/IF core")
    if any((c.kind, c.layout.H, c.layout.W, c.s_bits, c.s_min, c.s_max)
           != (first.kind, first.layout.H, first.layout.W, first.s_bits, first.s_min, first.s_max)
           for c in cfgs):
        raise NotMergeable("the parts differ in kind, H x W, S width or range")
    c0s = np.cumsum([0] + [c.layout.C for c in cfgs]).tolist()
    C = c0s.pop()
    L = min(gcd(lanes, *c0s[1:]), C)
    tables, zeros = [], []
    for cfg, c0 in zip(cfgs, c0s):
        for t in cfg.tables:
            if t.zero:
                zeros.append(t)
            elif t.conv is None:
                raise NotMergeable(f"part '{cfg.name}' has a dense table from '{t.name}'")
            else:
                tables.append(Table(t.n_rows, conv=replace(t.conv, c0=c0), source=t.source, name=t.name))
    R = max(c.bias_R for c in cfgs)
    bias = np.concatenate([np.pad(c.bias, ((0, R - c.bias_R), (0, 0))) for c in cfgs], axis=1)
    parts = [(c.name, c0 * first.layout.HW, (c0 + c.layout.C) * first.layout.HW) for c, c0 in zip(cfgs, c0s)]
    why = "; ".join(c.meta.get("layout_reason", "") for c in cfgs if c.meta.get("layout_reason"))
    extra = {"s_min": first.s_min} if first.kind == "stbif" else {}
    return CoreConfig(name=name, kind=first.kind, n=sum(c.n for c in cfgs), tables=tables + zeros,
                      layout=ConvLayout(C, first.layout.H, first.layout.W), x_bits=max(c.x_bits for c in cfgs),
                      in_bound=max(c.in_bound for c in cfgs), v_bits=max(c.v_bits for c in cfgs), lanes=L,
                      theta=np.concatenate([c.theta for c in cfgs]), v0=np.concatenate([c.v0 for c in cfgs]),
                      bias=bias, bias_R=R, s_bits=first.s_bits, s_max=first.s_max, **extra,
                      meta={"layout_reason": why, "parts": parts})
