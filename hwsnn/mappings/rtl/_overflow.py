"""The cores' overflow flags, read from a run's records."""

import numpy as np

from hwsnn.errors import RangeError
from hwsnn.ir import int_range

__all__ = ["check_overflow"]


def check_overflow(net, rec):
    """RangeError naming the first neuron whose V or S left its register (the cores' OVF flags)."""
    for k, (name, c) in enumerate(zip(net.nodes, net.cores)):
        if rec[f"OVF{k}"].any():
            b, t, i = map(int, np.argwhere(rec[f"OVF{k}"])[0])
            for part, lo, hi in net.parts[k]:
                if lo <= i < hi:  # a concatenation's core: the IR node of that neuron
                    name, i = part, i - lo
                    break
            lo, hi = int_range(c.v_bits)
            if getattr(c, "kind", "") == "cubalif":  # v saturates by the rule; u and S have registers
                raise RangeError(f"node '{name}': u or S left its register (u int{c.u_bits}, S int{c.s_bits}) "
                                 f"at step {t}, sample {b}, neuron {i}")
            raise RangeError(f"node '{name}': V or S left its register (V int{c.v_bits} [{lo}, {hi}], "
                             f"S int{c.s_bits}) at step {t}, sample {b}, neuron {i}")
    for k, c in enumerate(net.cores):  # a concatenation's core: each part's own V register
        for name, lo_n, hi_n in (net.parts[k] if len(net.parts[k]) > 1 else ()):
            bits = net.graph.nodes[name].v_bits
            if bits < c.v_bits:
                v = rec[f"V{k}"][:, :, lo_n:hi_n]
                lo, hi = int_range(bits)
                if v.size and (v.min() < lo or v.max() > hi):
                    b, t, i = map(int, np.argwhere((v < lo) | (v > hi))[0])
                    raise RangeError(f"node '{name}': membrane V left its int{bits} register [{lo}, {hi}] "
                                     f"at step {t}, sample {b}, neuron {i}")
