"""The IR graph: plain data, a dict of nodes and a list of edges."""

from dataclasses import dataclass, field, replace

__all__ = ["Edge", "Graph"]


@dataclass(frozen=True)
class Edge:
    """`src` feeds `dst`. `delay` (0 or 1 steps) is allowed only on edges leaving a spiking node
    (Source or neuron): the synapse sees src's output of step t - delay."""

    src: str
    dst: str
    delay: int = 0


@dataclass
class Graph:
    nodes: dict
    edges: list
    name: str = "net"
    meta: dict = field(default_factory=dict)

    def inputs_of(self, name):
        return [e for e in self.edges if e.dst == name]

    def outputs_of(self, name):
        return [e for e in self.edges if e.src == name]

    @property
    def sources(self):
        return [n for n, node in self.nodes.items() if node.ROLE == "source"]

    @property
    def readouts(self):
        return [n for n, node in self.nodes.items() if node.ROLE == "readout"]

    @property
    def neurons(self):
        return [n for n, node in self.nodes.items() if node.ROLE == "neuron"]

    def topo_order(self):
        """Node names in topological order (Kahn, ties in the nodes' order); IRError on a cycle.
        O(nodes + edges): one pass builds the adjacency."""
        from collections import deque

        from ..errors import IRError
        indeg = {n: 0 for n in self.nodes}
        succ = {n: [] for n in self.nodes}
        for e in self.edges:
            if e.dst in indeg and e.src in succ:
                indeg[e.dst] += 1
                succ[e.src].append(e.dst)
        ready = deque(n for n in self.nodes if indeg[n] == 0)
        order = []
        while ready:
            n = ready.popleft()
            order.append(n)
            for d in succ[n]:
                indeg[d] -= 1
                if indeg[d] == 0:
                    ready.append(d)
        if len(order) != len(self.nodes):
            done = set(order)
            stuck = sorted(n for n in self.nodes if n not in done)
            raise IRError(f"graph {self.name!r} has a cycle through nodes {stuck}")
        return order

    def with_delays(self, delay):
        """Copy with every edge that leaves a spiking node given `delay` (0 or 1)."""
        edges = [replace(e, delay=delay) if self.nodes[e.src].ROLE in ("source", "neuron") else e
                 for e in self.edges]
        return Graph(dict(self.nodes), edges, self.name, dict(self.meta))

    def replace_node(self, name, node):
        nodes = dict(self.nodes)
        nodes[name] = node
        return Graph(nodes, list(self.edges), self.name, dict(self.meta))
