"""Placement onto cores and the design-rule checks, with a small test target."""

import numpy as np
import pytest

from hwsnn import ir
from hwsnn.errors import MappingError
from hwsnn.mappings.place import place
from hwsnn.mappings.targets import load_target

LIMIT = """
[limits.{key}]
value = {value}
unit = "{unit}"
source = "test"
verified = true
"""


def tiny(tmp_path, **limits):
    """A target file with the given limits (unit 'count' or 'bits')."""
    text = '[target]\ntitle = "tiny"\nprocess = "test"\nsource = "test"\n'
    for key, value in limits.items():
        unit = "bits" if key in ("weight_bits", "state_bits", "synapse_memory_per_core") else "count"
        text += LIMIT.format(key=key, value=value, unit=unit)
    path = tmp_path / "tiny.toml"
    path.write_text(text)
    return load_target(str(path))


def dense_net(W, v_bits=16):
    W = np.asarray(W)
    n = {"in": ir.Source((W.shape[1],)), "w": ir.Dense(W, w_bits=8),
         "l0": ir.STBIF((W.shape[0],), theta=4, v0=2, s_max=3, v_bits=v_bits),
         "fc": ir.Dense(np.ones((2, W.shape[0]), int)), "out": ir.Readout((2,), v_bits=16)}
    e = [ir.Edge("in", "w"), ir.Edge("w", "l0"), ir.Edge("l0", "fc"), ir.Edge("fc", "out")]
    return ir.Graph(n, e, name="dense")


FIX_CORES = ("fix: make the layer smaller (fewer channels/units), or use a target with more cores, "
             "neurons per core or chips")


def test_network_too_big_for_the_cores(tmp_path):
    t = tiny(tmp_path, neurons_per_core=4, cores_per_chip=2, chips=1)
    with pytest.raises(MappingError) as e:
        place(dense_net(np.ones((12, 3), int)), t)
    assert str(e.value) == ("layer 'l0': needs 3 cores for 12 neurons, bringing the network to 3 "
                            "cores, over the target's 2 (1 chip(s) x 2 cores) by 1; " + FIX_CORES)


def test_fanin_over_the_axon_limit(tmp_path):
    t = tiny(tmp_path, neurons_per_core=4, axons_per_core=6)
    W = np.ones((3, 8), int)
    W[1, :] = 0
    W[1, :2] = 1
    with pytest.raises(MappingError) as e:
        place(dense_net(W), t)
    assert str(e.value) == (
        "layer 'l0': neuron 0 has a fan-in of 8 input axons, over the target's limit of 6 by 2; "
        "fix: split the layer's inputs (a grouped or two-stage layer), prune synapses, or use a "
        "target with more axons per core")


def test_weights_wider_than_the_target(tmp_path):
    t = tiny(tmp_path, neurons_per_core=4, weight_bits=4)
    W = np.array([[1, -3, 20], [0, 1, 2]])
    with pytest.raises(MappingError) as e:
        place(dense_net(W), t)
    assert str(e.value) == (
        "layer 'l0': stored weights (values in [-3, 20]) need 6 bits, over the target's limit of "
        "4 by 2; fix: requantize the layer to fewer weight bits (w_bits <= 4), or split a folded "
        "pooling/shortcut chain so its weights are not summed")


def test_state_wider_than_the_target(tmp_path):
    t = tiny(tmp_path, neurons_per_core=4, state_bits=16)
    with pytest.raises(MappingError) as e:
        place(dense_net(np.ones((2, 3), int), v_bits=20), t)
    assert str(e.value) == ("layer 'l0': membrane V needs 20 bits, over the target's limit of 16 by "
                            "4; fix: lower v_bits to 16 (range analysis must still prove it fits) "
                            "or rescale theta")


def test_target_without_core_limits():
    with pytest.raises(MappingError) as e:
        place(dense_net(np.ones((2, 3), int)), load_target("horowitz45"))
    assert str(e.value) == (
        "target 'horowitz45' (targets/horowitz45.toml) states no per-core limits (neurons_per_core, "
        "axons_per_core, synapses_per_core, synapse_memory_per_core): nothing to place onto")


def test_packing_by_neurons_and_synapse_memory(tmp_path):
    g = dense_net(np.ones((10, 3), int))
    p = place(g, tiny(tmp_path, neurons_per_core=4))
    l0 = p.layers[0]
    assert [c.neurons for c in l0.cores] == [4, 4, 2]
    assert [c.axons for c in l0.cores] == [3, 3, 3]
    assert p.cores == 3 + 1  # the readout's 2 neurons take one core
    # 40 bits of synapse memory at 4-bit weights: 10 synapses, 3 per neuron -> 3 neurons a core
    p = place(g, tiny(tmp_path, neurons_per_core=4, weight_bits=4, synapse_memory_per_core=40))
    assert [c.neurons for c in p.layers[0].cores] == [3, 3, 3, 1]
    assert all(c.synapse_bits <= 40 for c in p.layers[0].cores)


def test_conv_axons_are_the_union_of_receptive_fields(tmp_path):
    rng = np.random.default_rng(0)
    W = rng.integers(-3, 4, (2, 1, 3, 3))
    W[W == 0] = 1
    n = {"in": ir.Source((1, 6, 6)), "c": ir.Conv2d(W, padding=1),
         "l": ir.STBIF((2, 6, 6), theta=4, s_max=2), "f": ir.Flatten(),
         "d": ir.Dense(np.ones((1, 72), int)), "o": ir.Readout((1,))}
    e = [ir.Edge("in", "c"), ir.Edge("c", "l"), ir.Edge("l", "f"), ir.Edge("f", "d"), ir.Edge("d", "o")]
    p = place(ir.Graph(n, e), tiny(tmp_path, neurons_per_core=10))
    cores = p.layers[0].cores
    assert [c.neurons for c in cores] == [10] * 7 + [2]
    # independent: neurons in C order (co, y, x); a 3x3 'same' window around (y, x)
    start = 0
    for core in cores:
        pixels = set()
        for k in range(start, start + core.neurons):
            _, y, x = np.unravel_index(k, (2, 6, 6))
            pixels |= {(yy, xx) for yy in range(y - 1, y + 2) for xx in range(x - 1, x + 2)
                       if 0 <= yy < 6 and 0 <= xx < 6}
        assert core.axons == len(pixels)
        start += core.neurons


def test_digits_network_fits_loihi():
    from hwsnn.examples import load_digits_ir
    graph, *_ = load_digits_ir(n_test=1)
    p = place(graph, load_target("loihi"))
    assert p.cores >= len(p.layers) and p.chips == 1
    neurons = sum(int(np.prod(graph.nodes[l.name].shape)) for l in p.layers)
    assert sum(c.neurons for l in p.layers for c in l.cores) == neurons
    with pytest.raises(MappingError, match=r"need 8 bits, over the target's limit of 4 by 4"):
        place(graph, load_target("odin"))
