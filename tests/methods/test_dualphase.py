"""Dual-phase Phase II: calibration reduces the layer-wise error between the IF spike rates of
the integer IR (golden simulator) and the QC-ANN activations on held-out samples."""

import pytest
import torch

from hwsnn.examples import digits_data, load_digits_model
from hwsnn.methods.dualphase import calibrate, layer_errors, lower_calibrated, qc_ann
from hwsnn.methods._digits import digits_loader, train_qann


@pytest.mark.parametrize("T", [4, 8])
def test_calibration_reduces_layerwise_rate_error(T):
    torch.manual_seed(0)
    model, _, _ = load_digits_model()
    xtr, ytr, xte, _ = digits_data()
    qc = qc_ann(model, T, torch.as_tensor(xtr, dtype=torch.float32) / 16)
    train_qann(qc, digits_loader(xtr[:512], ytr[:512], seed=0), epochs=3)
    held_out = xte[:200]
    before = layer_errors(qc, lower_calibrated(qc, {}, T), held_out, T)
    cal, v0 = calibrate(qc, xtr[:256], T)                      # calibration samples: training set
    after = layer_errors(qc, lower_calibrated(cal, v0, T), held_out, T)
    assert set(before) == set(after) == {"2", "6", "10"}
    # the first layer sees the evenly released input: nearly no residual error to remove
    assert after["6"] < before["6"] and after["10"] < before["10"], (before, after)
    assert sum(after.values()) < sum(before.values()), (before, after)
