"""SpikeZIP: Residual Connection Re-routing keeps the ST-BIF graph exact and moves the neuron
before the addition; Paths-Ensemble Training exports a major-path QANN that compiles."""

import numpy as np
import pytest
import torch
from torch import nn

from hwsnn.compile import compile_qann
from hwsnn.convert import convert
from hwsnn.methods.spikezip import PETNet, export_major, pet_train
from hwsnn.methods.spikezip import reroute_residuals
from hwsnn.sim import count, run


class ResNetTiny(nn.Module):
    def __init__(self, conv_shortcut=False):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.c1, self.b1, self.r1 = nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU()
        self.c2, self.b2 = nn.Conv2d(4, 6 if conv_shortcut else 4, 3, padding=1), nn.BatchNorm2d(6 if conv_shortcut else 4)
        self.short = nn.Conv2d(4, 6, 1) if conv_shortcut else nn.Identity()
        self.r2, self.pool, self.fc = nn.ReLU(), nn.AvgPool2d(2), nn.Linear((6 if conv_shortcut else 4) * 16, 5)

    def forward(self, x):
        x = self.stem(x)
        y = self.b2(self.c2(self.r1(self.b1(self.c1(x)))))
        return self.fc(torch.flatten(self.pool(self.r2(y + self.short(x))), 1))


@pytest.mark.parametrize("conv_shortcut", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rcr_moves_the_qrelu_and_stays_exact(seed, conv_shortcut):
    torch.manual_seed(seed)
    model = ResNetTiny(conv_shortcut)
    q = convert(model, (1, 8, 8), levels=4, calib=torch.rand(32, 1, 8, 8))
    r, adds = reroute_residuals(q)
    assert adds == ["add"]
    kinds = {op.name: op for op in r.ops}
    assert kinds["add"].inputs[0] == "r2"            # the block's Q-ReLU now precedes the add
    assert kinds["r2"].inputs == ("c2",) or kinds["r2"].inputs[0] in ("c2",)
    assert kinds["pool"].inputs == ("add",)
    if conv_shortcut:
        assert kinds["add"].inputs[1] == "r2.shortcut"
    g = compile_qann(r, input_scale=1 / 16, input_range=(0, 16), R=4)
    x = np.random.default_rng(seed).integers(0, 17, (16, 1, 8, 8))
    tr = run(g, x, 80, record=False)
    assert tr.settled.all()
    np.testing.assert_array_equal(tr.output, count(g, x)["output"])
    # the float QANN after RCR computes add(q(branch), shortcut): check one forward by hand
    env = r(torch.as_tensor(x, dtype=torch.float32) / 16, capture=True)
    torch.testing.assert_close(env["add"], env["r2"] + env[r.ops[[o.name for o in r.ops].index("add")].inputs[1]])


def test_pet_exports_a_major_path_qann():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.Flatten(), nn.Linear(64, 8), nn.ReLU(), nn.Linear(8, 3))
    x = torch.rand(64, 1, 8, 8)
    y = torch.randint(0, 3, (64,))
    pet = PETNet(model, 8, [0.1, 0.1, 0.1])
    loader = [(x[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16)]
    pet_train(pet, model, loader, epochs=2)
    bn = pet.body[5]                      # after a Q-ReLU: each path has its own batch statistics
    assert bn.means.shape == (3, 4) and not torch.equal(bn.means[0], bn.means[2])
    assert torch.equal(pet.body[1].means[0], pet.body[1].means[2])   # before any Q-ReLU: the same
    _, qann = export_major(pet, model, (1, 8, 8))
    assert qann.levels == 8
    with torch.no_grad():
        torch.testing.assert_close(qann(x), pet(x, 0), rtol=1e-4, atol=1e-4)   # the major path, fused
    assert [round(qann.layers[op.key].scale.item(), 6) for op in qann.qrelus] == \
        [round(m.scale.item(), 6) for m in pet.modules() if type(m).__name__ == "_PathQReLU"]
