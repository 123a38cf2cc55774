"""The bundled digits CNN with exact max pooling: on all 360 test images its SNN (per step, at
equilibrium, delays 0 and 1) and its count semantics equal an integer max-pool QANN written
here with torch's own max_pool2d (nothing from hwsnn.sim), and the accuracies in its JSON hold."""

import numpy as np
import torch
import torch.nn.functional as F

from hwsnn import ir, sim
from hwsnn.examples import load_digits_maxpool_ir, load_digits_maxpool_model


def integer_qann(graph, x):
    """The integer QANN of `graph` in torch: conv/linear with the IR's integer weights, Q-ReLU
    clip(floor((z + bias + v0) / theta), 0, s_max), torch's max pool; {node: counts}, logits."""
    out = {"input": torch.as_tensor(x, dtype=torch.float64)}
    for name in graph.topo_order():
        node, ins = graph.nodes[name], graph.inputs_of(name)
        if node.ROLE == "source":
            continue
        z = sum(out[e.src] for e in ins)
        if isinstance(node, ir.Conv2d):
            w = torch.as_tensor(node.W.astype(np.int64), dtype=torch.float64)
            out[name] = F.conv2d(z, w, None, node.stride, node.padding, 1, node.groups)
        elif isinstance(node, ir.Dense):
            out[name] = z @ torch.as_tensor(node.W.astype(np.int64), dtype=torch.float64).T
        elif isinstance(node, ir.Flatten):
            out[name] = z.flatten(1)
        elif isinstance(node, ir.MaxPool2d):
            out[name] = F.max_pool2d(z, node.kernel, node.stride, node.padding, ceil_mode=node.ceil_mode)
        elif isinstance(node, ir.STBIF):
            t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float64)  # noqa: E731
            out[name] = torch.floor((z + t(node.bias) + t(node.v0)) / t(node.theta)).clamp(0, node.s_max)
        elif isinstance(node, ir.Readout):
            out[name] = z
        else:
            raise AssertionError(f"{name}: {node.type} not expected in the digits CNN")
    return {n: v.long().numpy() for n, v in out.items()}


def test_snn_equals_the_max_pool_qann_on_all_360_images():
    g, x, y, steps = load_digits_maxpool_ir()
    assert x.shape[0] == 360
    assert [n for n in g.nodes if isinstance(g.nodes[n], ir.MaxPool2d)] == ["3", "7"]
    q = integer_qann(g, x)
    counts = sim.count(g, x)
    np.testing.assert_array_equal(counts["output"], q["output"])
    for n in g.neurons:
        np.testing.assert_array_equal(counts["S"][n], q[n])
    for d in (0, 1):
        tr = sim.run(g.with_delays(d), x, steps, record=False)
        assert tr.settled.all()
        np.testing.assert_array_equal(tr.output, q["output"])
        for n in g.neurons:
            np.testing.assert_array_equal(tr.final[n]["S"], q[n])


def test_recorded_accuracies_hold():
    model, qann, info = load_digits_maxpool_model()
    g, x, y, steps = load_digits_maxpool_ir()
    assert info["pool"] == "max" and [op.kind for op in qann.ops].count("maxpool") == 2
    snn = float(np.mean(sim.count(g, x)["output"].argmax(1) == y))
    assert snn == info["snn_accuracy"] == info["int_qann_accuracy"]
    xf = torch.as_tensor(x, dtype=torch.float32) / 16
    with torch.no_grad():
        assert float((model(xf).argmax(1).numpy() == y).mean()) == info["float_accuracy"]
        assert float((qann(xf).argmax(1).numpy() == y).mean()) == info["qann_accuracy"]
    assert info["snn_equals_qann"] == info["snn_equals_qann_delay1"] == 1.0


def test_range_analysis_bounds_every_pool_register():
    """fit_widths sizes each MaxPool2d's s_bits from its bounds; a run (random graphs: padded,
    ceil-mode, pool of a pool, analog or spiking input) keeps every count and maximum inside."""
    from hwsnn.compile import bounds, fit_widths

    from maxpool_nets import inputs, maxpool_graph
    for seed in range(12):
        g = fit_widths(maxpool_graph(seed, (0, 1), analog=seed % 3 == 0), (0, 16))
        cum, regs = bounds(g, (0, 16))
        x = inputs(g, seed, 4)
        tr = sim.run(g, x, 20)
        for n, node in g.nodes.items():
            if isinstance(node, ir.MaxPool2d):
                (vlo, vhi), (slo, shi) = regs[n]["V"], regs[n]["S"]
                assert vlo <= tr.V[n].min() and tr.V[n].max() <= vhi, n
                assert (np.broadcast_to(cum[n][0], node.shape) <= tr.S[n]).all(), n
                assert (tr.S[n] <= np.broadcast_to(cum[n][1], node.shape)).all(), n
                lo, hi = ir.int_range(node.s_bits)
                assert lo <= min(vlo, slo) and max(vhi, shi) <= hi
                assert node.s_bits == ir.bits_for(min(vlo, slo), max(vhi, shi))
    g, *_ = load_digits_maxpool_ir()
    assert g.nodes["3"].s_bits == g.nodes["7"].s_bits == ir.bits_for(0, 8)  # counts 0..levels
