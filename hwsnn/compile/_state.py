"""State threaded through the lowering passes, and the symbolic form of a QANN value.

A value of the QANN is kept as sum_k term_k + bias, where a term is a chain of linear ops
applied to the integer output of one spiking node (Source or neuron) times its scale:
    value = sum_k  ops_k( s_k * counts(src_k) )  +  bias          (bias: float64 map,
                                                                    kept compact where constant)
so every pre-activation is linear in integer counts and can be integerized at its neuron.
"""

from dataclasses import dataclass, field

import torch

__all__ = ["Term", "Value", "Lowering", "Options"]


@dataclass
class Term:
    src: str                 # IR node emitting the counts (Source, neuron or MaxPool2d)
    scale: float             # float value of one count of src
    ops: list = field(default_factory=list)   # QANN ops (conv, linear, avgpool, flatten), in order
    chmap: object = None     # channel map after the ops (_channels.py): out j = channel chmap[j]
    pre: int = None          # channels the map reads (the ops' output)
    gain: object = None      # per-channel factor (a BatchNorm on a term with no weighted op)

    @property
    def weighted(self):
        return [op for op in self.ops if op.kind in ("conv", "linear")]

    def factor(self):
        """Scalar multiplying the counts: scale / k^2 for every average pool in the chain."""
        f = self.scale
        for op in self.ops:
            if op.kind == "avgpool":
                f /= op.attrs["kernel"][0] * op.attrs["kernel"][1]
        return f


@dataclass
class Value:
    terms: list
    bias: torch.Tensor       # float64, broadcastable to `shape`: scalar, per channel or full
    shape: tuple = ()        # the op's output shape (no batch)

    def full_bias(self):
        """The bias map at the op's full shape (a broadcast view, no copy)."""
        return self.bias.expand(self.shape)


@dataclass
class Options:
    input_scale: float = 1.0
    input_range: tuple = (-128, 127)
    w_bits: int = 8
    v_bits: int = None       # None: chosen by range analysis; an int: checked (RangeError)
    delays: int = 0
    R: int = 1               # input released over R steps (SpikeZIP evenly-release: R = n)
    bias_R: int = None       # bias released over bias_R steps (None: same as R)
    thresholds: str = "max"  # "max": largest even theta; "pow2": largest power-of-two theta
    max_theta: int = 1 << 16


@dataclass
class Lowering:
    qann: object
    options: Options
    values: dict = field(default_factory=dict)     # QANN op name -> Value
    scales: dict = field(default_factory=dict)     # neuron / readout IR name -> output scale s
    pending: list = field(default_factory=list)    # (IR name, kind, Value, s_out) to integerize
    pools: set = field(default_factory=set)        # IR names of the max pools
    part_of: dict = field(default_factory=dict)    # IR neuron name -> QANN op (parts of a concatenation)
    part_slots: dict = field(default_factory=dict) # IR neuron name -> its channels [a, b) of the op
    nodes: dict = field(default_factory=dict)
    edges: list = field(default_factory=list)
    layers: dict = field(default_factory=dict)     # IR name -> per-layer info for the report
    graph: object = None
    log: list = field(default_factory=list)        # names of the passes run

    def graph_inputs(self, name):
        """Names of the nodes with an edge into `name` (edges built so far)."""
        return [e.src for e in self.edges if e.dst == name]

    def unique(self, name):
        base, i = name, 1
        while name in self.nodes:
            i += 1
            name = f"{base}#{i}"
        return name
