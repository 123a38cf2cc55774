"""convert(share_weights=True): the same QANN without copying the weights of BN-free layers."""

import torch
from torch import nn

from hwsnn.compile import compile_qann
from hwsnn.convert import convert


def _model():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(),
                      nn.Linear(48, 5), nn.ReLU(), nn.Linear(5, 2, bias=False))
    m[1].running_mean.uniform_(-0.5, 0.5)
    m[1].running_var.uniform_(0.5, 2.0)
    return m.eval()


def test_shared_qann_equals_copied_and_holds_the_models_tensors():
    m, x = _model(), torch.rand(8, 1, 4, 4)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    copied = convert(m, (1, 4, 4), calib=x)
    shared = convert(m, (1, 4, 4), calib=x, share_weights=True)
    torch.testing.assert_close(shared(x), copied(x), rtol=0, atol=0)
    layers = dict(shared.layers.items())
    assert layers["4"].weight is m[4].weight and layers["4"].bias is m[4].bias
    assert layers["6"].weight is m[6].weight and not layers["6"].bias.any()
    assert layers["0"].weight.data_ptr() != m[0].weight.data_ptr()  # BN folded into a copy
    for k, v in m.state_dict().items():
        assert torch.equal(v, before[k]), k  # converting changed nothing in the model
    g1 = compile_qann(copied, input_scale=1 / 16, input_range=(0, 16))
    g2 = compile_qann(shared, input_scale=1 / 16, input_range=(0, 16))
    for name, node in g1.nodes.items():
        for field, arr in node.arrays().items():
            assert (getattr(g2.nodes[name], field) == arr).all(), (name, field)
