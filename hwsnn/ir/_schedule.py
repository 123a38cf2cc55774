"""The timing every executor shares, derived from the IR alone: node order, each Source's emission
length, the emission window of iLIF (and horner readout) inputs, the exact bound of every
synapse's output, and the valid run lengths (`check_steps`).

The golden simulator (`hwsnn.sim.Network`) and the back ends build on this; none of it computes a
neuron's state, so sharing it copies no rule an executor is checked on.
"""

import numpy as np

from hwsnn.errors import SimulationError

from ._nodes import ILIF, CaLIF, Conv2d, Dense, MaxPool2d, Readout, Scale, SumPool2d
from ._verify import verify

__all__ = ["Schedule", "source_length", "source_bound", "output_bound"]


def source_length(node):
    """Number of steps a Source emits."""
    return node.R if node.encoding == "analog" else node.T


def source_bound(node, q_bound):
    """Largest |value| a Source emits in one step."""
    return q_bound if node.encoding == "analog" else 1


def output_bound(node, in_bound):
    """Largest |output| (and |partial sum|) of synapse `node` for inputs with |x| <= in_bound."""
    if isinstance(node, Dense):
        return in_bound * int(np.abs(node.W).sum(axis=1).max(initial=0))
    if isinstance(node, Conv2d):
        return in_bound * int(np.abs(node.W).reshape(node.W.shape[0], -1).sum(axis=1).max(initial=0))
    if isinstance(node, SumPool2d):
        return in_bound * node.kernel[0] * node.kernel[1]
    if isinstance(node, Scale):
        return in_bound * int(np.abs(node.w).max(initial=0))
    return in_bound  # Flatten


class Schedule:
    """A verified graph's timing: `order` (topological), `bound` {node: largest |output| per
    step}, `timing` {node: (first step, length)} of fixed emission windows (bits Sources, iLIF),
    `contexts` {node: {"start", "T"}} of iLIF/horner inputs, `calif_T` (the Ca-LIF window)."""

    def __init__(self, graph):
        self.shapes = verify(graph)
        self.graph = graph
        self.order = graph.topo_order()
        self.timing, self.contexts, self.bound = {}, {}, {}
        for name in self.order:
            node, ins = graph.nodes[name], graph.inputs_of(name)
            if node.ROLE == "source":
                self.bound[name] = source_bound(node, 2 ** (node.x_bits - 1))
                if node.encoding == "bits":
                    self.timing[name] = (0, node.T)  # emission window (first step, length)
            elif node.ROLE == "synapse":
                self.bound[name] = output_bound(node, self.bound[ins[0].src])
            else:
                # spikes are -1, 0, +1; a max pool moves at most as much as its input
                self.bound[name] = self.bound[ins[0].src] if isinstance(node, MaxPool2d) else 1
                self._set_timing(name, node)
        self.calif_T = {graph.nodes[n].T for n in graph.neurons if isinstance(graph.nodes[n], CaLIF)}
        if len(self.calif_T) > 1:
            raise SimulationError(f"all CaLIF nodes must share one window T, not {sorted(self.calif_T)}")
        others = [n for n in graph.neurons if not isinstance(graph.nodes[n], CaLIF)]
        if self.calif_T and others:  # the settle phase is defined for CaLIF neurons only
            raise SimulationError(f"a graph with CaLIF nodes must have no other neurons, not {others}")

    def in_bound(self, name):
        """Largest |input current| of neuron `name` per step (sum over its synapses)."""
        return sum(self.bound[e.src] for e in self.graph.inputs_of(name))

    def spiking_inputs(self, name):
        """(spiking node, delay) pairs feeding neuron `name` through synapse chains."""
        out, stack = [], [(e.src, e.delay) for e in self.graph.inputs_of(name)]
        while stack:
            src, delay = stack.pop()
            node = self.graph.nodes[src]
            if node.ROLE == "synapse":
                stack += [(e.src, delay + e.delay) for e in self.graph.inputs_of(src)]
            else:
                out.append((src, delay))
        return out

    def _set_timing(self, name, node):
        if not (isinstance(node, ILIF) or (isinstance(node, Readout) and node.horner)):
            return
        starts = {}
        for src, delay in self.spiking_inputs(name):
            if src not in self.timing:
                raise SimulationError(f"node '{name}': input '{src}' has no fixed emission window "
                                      f"(an ILIF/horner input must come from a bits Source or ILIF)")
            s0, length = self.timing[src]
            starts[src] = (s0 + delay, length)
        if len(set(starts.values())) != 1:
            raise SimulationError(f"node '{name}': inputs arrive in different windows {starts}")
        start, length = next(iter(starts.values()))
        if isinstance(node, ILIF):
            if length != node.T:
                raise SimulationError(f"node '{name}': accumulates T={node.T} steps but its input "
                                      f"emits {length}")
            self.timing[name] = (start + node.T, node.T)
        self.contexts[name] = {"start": start, "T": length}

    def check_steps(self, steps):
        """SimulationError unless `steps` is a valid run length for this network (every
        executor uses the same rule)."""
        if steps < 1:
            raise SimulationError(f"steps must be >= 1, not {steps}")
        if self.calif_T and steps != next(iter(self.calif_T)):
            raise SimulationError(f"a CaLIF network runs its window of T={next(iter(self.calif_T))} "
                                  f"steps, not steps={steps}")

    def ends(self):
        """Steps after which no Source, bias release or iLIF window is active any more."""
        out = [source_length(self.graph.nodes[s]) for s in self.graph.sources]
        out += [getattr(self.graph.nodes[n], "bias_R", 0) for n in self.graph.neurons]
        out += [sum(self.timing[n]) for n in self.graph.neurons if isinstance(self.graph.nodes[n], ILIF)]
        return max(out)

    def ctx(self, name):
        return self.contexts.get(name, {})
