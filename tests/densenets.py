"""torchvision's own DenseNet in a small configuration (weights=None): dense blocks whose
BN-ReLU reads a concatenation, which the converter splits into one neuron node per part."""

import numpy as np
import pytest


def tiny_densenet(backend):
    """(graph, 2 inputs, the steps `plan_steps` finds under `backend`'s delays)."""
    torch = pytest.importorskip("torch")
    from hwsnn import backends
    from hwsnn._torchvision import import_torchvision
    from hwsnn.compile import compile_qann
    from hwsnn.convert import convert
    from hwsnn.energy import plan_steps

    tv = import_torchvision()
    torch.manual_seed(0)
    model = tv.models.DenseNet(growth_rate=4, block_config=(3, 2), num_init_features=8,
                               bn_size=2, num_classes=3).eval()
    calib = torch.randint(0, 256, (4, 3, 16, 16)).float() / 255
    qann = convert(model, (3, 16, 16), levels=4, calib=calib)
    graph = compile_qann(qann, input_scale=1 / 255, input_range=(0, 255), w_bits=8)
    x = np.random.default_rng(0).integers(0, 256, (2, 3, 16, 16))
    steps = plan_steps(backends.stated_graph(backend, graph), x).steps
    return graph, x, steps
