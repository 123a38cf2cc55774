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
            lo, hi = int_range(c.v_bits)
            if getattr(c, "kind", "") == "cubalif":  # v saturates by the rule; u and S have registers
                raise RangeError(f"node '{name}': u or S left its register (u int{c.u_bits}, S int{c.s_bits}) "
                                 f"at step {t}, sample {b}, neuron {i}")
            raise RangeError(f"node '{name}': V or S left its register (V int{c.v_bits} [{lo}, {hi}], "
                             f"S int{c.s_bits}) at step {t}, sample {b}, neuron {i}")
