"""The lowering pipeline: a linear list of named passes, each Lowering -> Lowering.

    trace -> fold_scales -> integerize -> schedule -> build_graph -> analyze_ranges
          -> set_delays -> verify

`compile_qann(qann, ...)` runs them all and returns the IR graph; `graph.meta["layers"]`
holds each layer's scale s, integer unit u = s/theta, theta, bit widths and static V bound.
"""

from dataclasses import replace

from .. import ir
from ..errors import CompileError
from ._fold import fold_scales, trace
from ._integerize import integerize
from ._ranges import analyze_ranges
from ._state import Lowering, Options

__all__ = ["PASSES", "compile_qann", "lower"]


def schedule(st):
    """Input encoding: analog Source releasing q over R steps; each bias over bias_R steps."""
    o = st.options
    R = int(o.R)
    bias_R = int(o.bias_R if o.bias_R is not None else R)
    if R < 1 or bias_R < 1:
        raise CompileError(f"R and bias_R must be >= 1, not R={o.R}, bias_R={o.bias_R}")
    st.nodes["input"] = replace(st.nodes["input"], R=R)
    for name, node in st.nodes.items():
        if isinstance(node, ir.STBIF) and name in st.layers:
            st.nodes[name] = replace(node, bias_R=bias_R)
    return st


def build_graph(st):
    meta = {"source": "hwsnn.compile", "levels": st.qann.levels,
            "input_scale": float(st.options.input_scale),
            "input_range": [int(v) for v in st.options.input_range],
            "w_bits": int(st.options.w_bits), "thresholds": st.options.thresholds,
            "logit_scale": st.layers["output"]["unit"], "layers": st.layers}
    st.graph = ir.Graph(dict(st.nodes), list(st.edges), name=st.qann.net_name, meta=meta)
    return st


def set_delays(st):
    d = st.options.delays
    if d not in (0, 1):
        raise CompileError(f"delays must be 0 or 1, not {d!r}")
    st.graph = st.graph.with_delays(d)
    return st


def verify(st):
    ir.verify(st.graph)
    st.graph.meta["passes"] = list(st.log) + ["verify"]
    return st


PASSES = [("trace", trace), ("fold_scales", fold_scales), ("integerize", integerize),
          ("schedule", schedule), ("build_graph", build_graph),
          ("analyze_ranges", analyze_ranges), ("set_delays", set_delays), ("verify", verify)]


def lower(qann, options):
    """Run every pass on `qann`; returns the final Lowering state (graph in `.graph`)."""
    st = Lowering(qann, options)
    for name, fn in PASSES:
        st = fn(st)
        st.log.append(name)
    return st


def compile_qann(qann, *, input_scale, input_range, w_bits=8, v_bits=None, delays=0, R=1,
                 bias_R=None, thresholds="max", name=None):
    """Integer IR graph of `qann` (see the pass docstrings for the equations).

    input_scale, input_range (required, never guessed): the float input is input_scale * q
    with integer q in input_range (digits: 1/16 and (0, 16)); both go to graph.meta.
    name: the graph's name (default: the QANN's, i.e. the model's class name).
    w_bits: signed weight width. v_bits: None to size every membrane register from the range
    analysis, or a fixed width (RangeError if a bound does not fit). delays: 0 or 1 on every
    edge leaving a spiking node. R / bias_R: release steps of input / biases.
    thresholds: "max" (largest even theta) or "pow2" (powers of two: exact for dyadic weights).
    """
    opts = Options(input_scale=float(input_scale), input_range=tuple(input_range), w_bits=w_bits,
                   v_bits=v_bits, delays=delays, R=R, bias_R=bias_R, thresholds=thresholds)
    graph = lower(qann, opts).graph
    if name is not None:
        graph.name = str(name)
    return graph
