"""The compiler's rounding, on values that need it (halves, negatives, wide layers).

- weights: W_int = rint(W * k) (round half to even, numpy's rule; Python's round() is the
  independent reference), the same numbers on the chunked path, the wide int64 fallback and a
  float32 weight;
- readout bias on always-on neurons: b_int = n * sum(w_full) + w_unit with w_unit in
  [-n/2, n/2) (q = round_half_up(b / n)), every column within w_bits.
"""

import numpy as np
import pytest
import torch

from hwsnn import ir
from hwsnn.compile import _weights
from hwsnn.compile._integerize import _bias_neurons
from hwsnn.compile._state import Lowering, Options


def _reference(w, k):
    return np.array([round(float(v) * k) for v in np.asarray(w, dtype=np.float64).reshape(-1)],
                    dtype=np.int64).reshape(np.shape(w))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_weights_round_half_to_even_with_sign(dtype):
    w = torch.tensor([[0.5, 1.5, 2.5, -0.5, -1.5, -2.5], [0.49, -0.51, 1.26, -1.74, 3.0, -3.0]], dtype=dtype)
    got = _weights.round_weights(w, 2.0, 8)
    np.testing.assert_array_equal(got, _reference(w.double().numpy(), 2.0))
    np.testing.assert_array_equal(_weights.round_weights(w, 1.0, 8)[0], [0, 2, 2, 0, -2, -2])
    assert got.dtype == ir.dtype_for(9) and not got.flags.writeable


def test_chunked_rows_equal_one_rounding(monkeypatch):
    monkeypatch.setattr(_weights, "_CHUNK", 8)  # 2 rows of 4 per block
    rng = np.random.default_rng(0)
    w = torch.as_tensor(rng.normal(0, 3, (9, 4)))
    np.testing.assert_array_equal(_weights.round_weights(w, 1.7, 8), _reference(w.numpy(), 1.7))


def test_wide_values_take_the_int64_path_rounded():
    w = torch.tensor([[100.5, -100.5, 101.5, -3.4]], dtype=torch.float64)
    got = _weights.round_weights(w, 3.0, 4)  # int4 cannot hold them: int64, verify names the layer
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, _reference(w.numpy(), 3.0))


class _Q:
    ops = []


def _chain(n, theta, b_len):
    st = Lowering(qann=_Q(), options=Options())
    st.nodes = {"in": ir.Source((2,)), "w0": ir.Dense(np.array([[1, 0], [0, 1]])),
                "h": ir.STBIF((2,), theta=np.array(theta), v0=np.array(theta // 2), s_max=n),
                "w1": ir.Dense(np.ones((b_len, 2), dtype=np.int64)), "out": ir.Readout((b_len,))}
    st.edges = [ir.Edge("in", "w0"), ir.Edge("w0", "h"), ir.Edge("h", "w1"), ir.Edge("w1", "out")]
    st.layers = {"h": {}, "out": {}}
    return st


@pytest.mark.parametrize("n,wbits", [(4, 3), (5, 3), (8, 5)])
def test_readout_bias_neurons_round_half_up(n, wbits):
    b_int = np.arange(-3 * n - 1, 3 * n + 2)
    st = _chain(n, 2, len(b_int))
    assert _bias_neurons(st, "out", b_int, wbits)
    W = st.nodes["w1"].W
    added = W[:, 2:]  # m columns of full units (count n), then one unit column (count 1)
    counts = np.array(st.layers["h"]["bias_neurons"]["counts"])
    assert counts[-1] == 1 and (counts[:-1] == n).all()
    np.testing.assert_array_equal(added @ counts, b_int)  # the bias is exact
    wmax = (1 << (wbits - 1)) - 1
    assert np.abs(added).max() <= wmax
    w_unit = added[:, -1]
    assert (-(n / 2) <= w_unit).all() and (w_unit < n / 2).all()
    # round half up of b / n: b = n/2 (even n) goes up, leaving w_unit = -n/2
    if n % 2 == 0:
        assert w_unit[list(b_int).index(n // 2)] == -(n // 2)
    assert st.nodes["h"].shape == (2 + added.shape[1],)
    assert st.nodes["h"].bias[2:].tolist() == [n * 2] * (added.shape[1] - 1) + [2]
