"""Accumulator bounds of a core's tables: per neuron, the sum of |weight| over every input row
that reaches it (`CoreConfig.column_abs_sums`), in int64, exact, without unrolling a kernel and
without full-size int64 copies of a layer (the weights stay in the IR's dtype, int16 at w_bits 8).
"""

import numpy as np

__all__ = ["abs_sums", "channel_abs_sums", "kernel_abs_sums"]

_CHUNK = 1 << 17  # elements per block of an |W| sum (temporaries of 1 MB: reused, not fresh pages)


def abs_sums(a, axis):
    """sum |a| along `axis` (0 or 1) of a 2-D integer array, in int64, in blocks of rows of its
    memory order (no full-size temporary; exact wherever the sums fit int64)."""
    if axis == 0 and a.flags.f_contiguous and not a.flags.c_contiguous:
        return abs_sums(a.T, 1)  # a transposed C array: its columns are rows in memory
    step = max(1, _CHUNK // max(1, a.shape[1]))
    if axis == 1:
        return np.concatenate([np.abs(a[i:i + step], dtype=np.int64).sum(1) for i in range(0, len(a), step)]
                              + [np.zeros(0, np.int64)])
    total = np.zeros(a.shape[1], np.int64)
    for i in range(0, len(a), step):
        total += np.abs(a[i:i + step], dtype=np.int64).sum(0)
    return total


def channel_abs_sums(K):
    """A[co, k] = sum_c |K[co, c, k]| of K (C, Cin, KK), int64, exact: a float64 product with a
    ones vector (BLAS; every partial sum an integer below 2^53) where K is at most 32 bits wide
    and Cin * 2^bits < 2^53, else int64 sums; in blocks of output channels."""
    C, Cin, KK = K.shape
    step = max(1, _CHUNK // max(1, Cin * KK))
    if K.dtype.itemsize <= 4 and Cin << (8 * K.dtype.itemsize) < (1 << 53):
        ones = np.ones((1, Cin))
        parts = [np.matmul(ones, np.abs(K[i:i + step], dtype=np.float64))[:, 0, :].astype(np.int64)
                 for i in range(0, C, step)]
    else:
        parts = [np.abs(K[i:i + step], dtype=np.int64).sum(1) for i in range(0, C, step)]
    return np.concatenate(parts) if parts else np.zeros((0, KK), np.int64)


def kernel_abs_sums(ct, layout):
    """Per neuron: sum of |K| over every (row, kernel position) of a kernel table that reaches
    it (the column sums of |`_config._implied`|), one strided slice per kernel position (int64,
    exact); 0 outside the table's channels c0 .. c0 + C - 1."""
    total = np.zeros((layout.C, layout.HW), np.int64)
    C = ct.K.shape[0]
    total[ct.c0:ct.c0 + C] = _kernel_abs_sums(ct, layout).reshape(C, layout.HW)
    return total.reshape(-1)


def _kernel_abs_sums(ct, layout):
    """`kernel_abs_sums` over the table's own channels (C * H * W)."""
    C, Cin, KH, KW = ct.K.shape
    (sh, sw), (ph, pw) = ct.stride, ct.pad
    c, iy, ix = ct.rows[ct.rows[:, 0] >= 0].T
    Hi = max(int(iy.max(initial=0)) + 1, (layout.H - 1) * sh + KH)
    Wi = max(int(ix.max(initial=0)) + 1, (layout.W - 1) * sw + KW)
    Hq, Wq = Hi + 2 * ph, Wi + 2 * pw
    count = np.bincount((c * Hq + iy + ph) * Wq + ix + pw, minlength=Cin * Hq * Wq).reshape(Cin, Hq, Wq)

    def window(ky, kx):  # rows landing on the input pixels kernel position (ky, kx) reads, (Cin, H*W)
        return count[:, ky:ky + (layout.H - 1) * sh + 1:sh, kx:kx + (layout.W - 1) * sw + 1:sw].reshape(Cin, -1)

    if (count == count[:1]).all():  # the same rows for every input channel (the usual case):
        # sum over c first, A[co, ky, kx] = sum_c |K[co, c, ky, kx]|, one pass over K
        A = channel_abs_sums(ct.K.reshape(C, Cin, KH * KW))
        reach = np.stack([window(ky, kx)[0] for ky in range(KH) for kx in range(KW)])  # (KH*KW, H*W)
        return (A @ reach).reshape(-1)

    if np.count_nonzero(ct.K) * 4 < ct.K.size:  # e.g. a block-diagonal (grouped) kernel: sparse products
        import scipy.sparse as sp
        co, ci, ky_, kx_ = np.nonzero(ct.K)
        v, total = np.abs(ct.K[co, ci, ky_, kx_], dtype=np.int64), np.zeros((C, layout.HW), np.int64)
        for ky in range(KH):
            for kx in range(KW):
                m = (ky_ == ky) & (kx_ == kx)
                total += sp.csr_matrix((v[m], (co[m], ci[m])), shape=(C, Cin)) @ window(ky, kx)
        return total.reshape(-1)
    absK = np.abs(ct.K, dtype=np.int64)
    # dense products in float64 (BLAS) where every sum stays below 2^52 (exact), else int64
    dt = np.int64 if int(absK.sum()) * int(count.max(initial=0)) >= (1 << 52) else np.float64
    absK, count, total = absK.astype(dt), count.astype(dt), np.zeros((C, layout.HW), dt)
    for ky in range(KH):
        for kx in range(KW):
            total += absK[:, :, ky, kx] @ window(ky, kx)
    return total.reshape(-1).astype(np.int64)
