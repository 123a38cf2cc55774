"""torchvision's resnet18 and mobilenet_v2 (3x32x32, weights=None, num_classes=10, calibrated as
tests/convert/test_torchvision_zoo.py does) on the RTL: every core a shared kernel, max-pool unit
or dense table (no layer refused), each equal to the unrolled synapses; and the whole model on
Verilator, 1 random input, compared with golden at every step (V, S, y of every neuron, the
logits). The weights load from $readmemh image files (hwsnn.rtl._rom): inline, resnet18's
11.5 M weight words made a 325 MB Verilog file that Verilator could not build."""

import numpy as np
import pytest
import torch

from hwsnn import backends, sim
from hwsnn._torchvision import import_torchvision
from hwsnn.compile import compile_qann
from hwsnn.convert import convert
from hwsnn.energy import plan_steps
from hwsnn.mappings import rtl

from rtlsim import need_sim

pytestmark = [pytest.mark.slow, pytest.mark.rtl]


def _graph(name):
    tv = import_torchvision()
    torch.manual_seed(0)
    model = getattr(tv.models, name)(weights=None, num_classes=10).eval()
    calib = torch.randint(0, 256, (8, 3, 32, 32)).float() / 255
    qann = convert(model, (3, 32, 32), levels=8, calib=calib)
    return compile_qann(qann, input_scale=1 / 255, input_range=(0, 255), w_bits=8)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_torchvision_model_tables_equal_the_unrolled_synapses(name):
    """Every core's tables (IR kernels, composed/block-diagonal kernels, dense W) compute exactly
    the synapses unrolled from the IR arrays (`_images.unroll_sparse`): no simulator needed."""
    from hwsnn.mappings.rtl._images import unroll_sparse
    net = rtl.lower(_graph(name), lanes=16)
    checked = 0
    for node, core in zip(net.nodes, net.cores):
        if getattr(core, "kind", "") == "maxpool":
            continue
        got = core.implied_weights(sparse=True)
        off = core.offsets() + [core.n_in]
        for k, src in enumerate(dict.fromkeys(t.name for t in core.tables)):
            rows = [i for i, t in enumerate(core.tables) if t.name == src]
            part = sum((got[off[i]:off[i + 1]] for i in rows[1:]), start=got[off[rows[0]]:off[rows[0] + 1]])
            assert (part != unroll_sparse(net.graph, node, src)).nnz == 0, (node, src)
            checked += 1
    assert checked >= len(net.cores) - 1


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_torchvision_model_on_verilator_equals_golden_at_every_step(name):
    """1 random input 0..255, the steps it takes to settle on the graph the RTL runs (every
    edge delay 1): 0 mismatches on every V, S, y and logit at every step."""
    need_sim("verilator")
    graph = _graph(name)
    net = rtl.lower(graph, lanes=16)
    x = np.random.default_rng(1).integers(0, 256, (1, 3, 32, 32))
    steps = plan_steps(backends.stated_graph("rtl", graph), x).steps
    trace = rtl.run_lowered(net, x, steps, sim="verilator")
    cmp = backends.compare(sim.run(net.graph, x, steps), trace, "rtl")
    per_step = sum(3 * int(np.prod(net.graph.nodes[n].shape)) for n in net.graph.neurons)
    assert cmp.mismatches == 0, cmp.first
    assert cmp.compared_values >= steps * per_step > 0
    assert trace.rtl["cycles"] > 0
