"""Event counts of a MaxPool2d layer (exact max pooling over spike counts), per sample.

An event-driven pool unit: each input spike received at input i (|x|, after the edge's delay)
reads and writes that input's count C_i, then re-evaluates every window that holds i by
reading its kh*kw counts (kh*kw - 1 compares each); each output spike writes the window's
maximum S. So, with w_i the number of windows holding input i and e_i its events:
    pool_compares = sum_i e_i w_i (kh kw - 1)
    state_reads   = sum_i e_i (1 + w_i kh kw),   state_writes = sum_i e_i + spikes
    updates       = steps * outputs (time-stepped, as a neuron layer); active_updates: outputs
                    whose window got an event or that fired at a step
No weights: sops, input_macs, weight_reads are 0. The ANN's max pool: outputs (kh kw - 1)
compares (`ann["compares"]`), no MACs.
"""

import numpy as np

__all__ = ["window_members", "maxpool_counts"]


def window_members(node):
    """(n_in, n_out) 0/1 int64 matrix: input i lies in output window o (padding excluded)."""
    C, H, W = node.in_shape
    _, Ho, Wo = node.shape
    (kh, kw), (sh, sw), (ph, pw) = node.kernel, node.stride, node.padding
    m = np.zeros((C * H * W, C * Ho * Wo), dtype=np.int64)
    for c in range(C):
        for i in range(Ho):
            for j in range(Wo):
                o = (c * Ho + i) * Wo + j
                for r in range(max(0, i * sh - ph), min(H, i * sh - ph + kh)):
                    for q in range(max(0, j * sw - pw), min(W, j * sw - pw + kw)):
                        m[(c * H + r) * W + q, o] = 1
    return m


def maxpool_counts(node, src_spikes, src_y, delay, own_y, own_spikes, steps, batch):
    """Counts dict of one MaxPool2d layer. src_spikes (batch, n_in): events its input sent;
    src_y (steps, batch, n_in) or None: per step; own_y / own_spikes: its output."""
    members = window_members(node)
    k = node.kernel[0] * node.kernel[1]
    w = members.sum(axis=1)                          # windows holding each input
    e = np.asarray(src_spikes).reshape(batch, -1).astype(np.int64)
    spikes = np.asarray(own_spikes).reshape(batch, -1).sum(axis=1).astype(np.int64)
    events = e.sum(axis=1)
    n_out = members.shape[1]
    updates = np.full(batch, steps * n_out, np.int64)
    zero = np.zeros(batch, np.int64)
    counts = {"sops": zero, "input_macs": zero.copy(), "input_value_sops": zero.copy(),
              "weight_reads": zero.copy(), "updates": updates,
              "pool_compares": e @ (w * (k - 1)),
              "state_reads": events + e @ (w * k), "state_writes": events + spikes,
              "spikes": spikes, "active_updates": None, "idle_updates": None}
    if src_y is not None and own_y is not None:
        x = np.abs(np.asarray(src_y).reshape(steps, batch, -1)).astype(np.int64)
        if delay:
            x = np.concatenate([np.zeros_like(x[:delay]), x[:-delay]])
        touched = (x @ members > 0) | (np.asarray(own_y).reshape(steps, batch, -1) != 0)
        counts["active_updates"] = touched.sum(axis=(0, 2)).astype(np.int64)
        counts["idle_updates"] = updates - counts["active_updates"]
    return counts
