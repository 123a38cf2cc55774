"""Q-ReLU: round half up, equals the ST-BIF count, LSQ gradients."""

import math

import numpy as np
import pytest
import torch

from hwsnn.convert import QReLU, round_half_up


def test_round_half_up_differs_from_torch_round_on_ties():
    x = torch.tensor([0.5, 1.5, 2.5, -0.5, 0.49, 0.51])
    assert round_half_up(x).tolist() == [1.0, 2.0, 3.0, 0.0, 0.0, 1.0]
    assert torch.round(x).tolist()[:3] == [0.0, 2.0, 2.0]  # ties to even: not what ST-BIF does


@pytest.mark.parametrize("levels", [1, 3, 8, 16])
@pytest.mark.parametrize("theta", [2, 4, 16])
def test_level_equals_stbif_count(levels, theta):
    """x = Z * s/theta exactly (powers of two): level = clip(floor((Z + theta/2)/theta), 0, n)."""
    s = 0.25
    Z = np.arange(-3 * theta, (levels + 3) * theta)
    q = QReLU(levels, s)
    got = q.level(torch.as_tensor(Z * (s / theta), dtype=torch.float64)).numpy()
    want = np.clip((Z + theta // 2) // theta, 0, levels)
    np.testing.assert_array_equal(got, want)
    out = q(torch.as_tensor(Z * (s / theta), dtype=torch.float64)).detach().numpy()
    np.testing.assert_array_equal(out, want * s)


def test_lsq_gradients():
    q = QReLU(4, 0.5)
    q.train()
    x = torch.tensor([-1.0, 0.3, 0.9, 1.2, 5.0], requires_grad=True)
    q(x).sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]  # straight through inside [0, n*s]
    v = torch.tensor([-2.0, 0.6, 1.8, 2.4, 10.0])
    dq_ds = [0.0] + [float(math.floor(a + 0.5) - a) for a in v[1:4].tolist()] + [4.0]
    g = 1 / math.sqrt(1 * 4)  # per-sample numel 1 (x is 1-D here: x[0].numel() = 1)
    assert q.scale.grad.item() == pytest.approx(sum(dq_ds) * g, abs=1e-6)


def test_levels_must_be_positive_integer():
    with pytest.raises(ValueError, match=r"levels must be an integer >= 1, not 0"):
        QReLU(0)
