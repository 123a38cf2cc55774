"""Ca-LIF import of a torch.ao QAT model: V_th = S_y/(S_w S_x), leak = -b/(S_w S_x T).
The Ca-LIF layer's count equals torch's int8 code except where torch's requantized value lies
within the IR's threshold rounding of a tie (the reported integerization error)."""

import numpy as np
import pytest
import torch

from hwsnn.errors import ConversionError
from hwsnn.methods.calif import CaLIFNet, calif_graph, import_qat, qat_model
from hwsnn.sim import count, run


@pytest.fixture(scope="module")
def quantized():
    import torch.ao.quantization as tq
    torch.manual_seed(0)
    m = qat_model(CaLIFNet())
    opt = torch.optim.SGD(m.parameters(), lr=0.01)
    for _ in range(5):
        x = torch.randint(0, 17, (32, 1, 8, 8)).float() / 16
        opt.zero_grad()
        torch.nn.functional.cross_entropy(m(x), torch.randint(0, 10, (32,))).backward()
        opt.step()
    m.eval()
    return tq.convert(m)


def test_first_layer_codes_match_torch_int8(quantized):
    qm = quantized
    P = import_qat(qm)
    T = 4
    g, encode = calif_graph(P, T)
    pixels = np.random.default_rng(0).integers(0, 17, (64, 1, 8, 8))
    q = encode(pixels)
    xq = qm.quant(torch.as_tensor(pixels, dtype=torch.float32) / 16)
    np.testing.assert_array_equal(q, xq.int_repr().numpy())          # the same input codes
    torch_codes = qm.c1(xq).int_repr().numpy().astype(np.int64)
    ir_codes = count(g, q)["S"]["c1"]
    # torch's exact pre-rounding value v = (acc + b/(S_w S_x)) S_w S_x / S_y
    acc = torch.nn.functional.conv2d(torch.as_tensor(q - int(P["input.z_x"]), dtype=torch.float64),
                                     P["c1.W"].double(), None, 1, 1)
    sw = P["c1.S_w"].reshape(1, -1, 1, 1)
    v = ((acc + P["c1.b"].reshape(1, -1, 1, 1) / (sw * P["input.S_x"])) * sw * P["input.S_x"] / P["c1.S_y"]).numpy()
    diff = ir_codes != torch_codes
    assert np.abs(ir_codes - torch_codes).max() <= 1
    near_tie = np.abs(v - np.floor(v) - 0.5) < 2.0 / 1024 * np.maximum(1, np.abs(v))
    assert not np.any(diff & ~near_tie), int((diff & ~near_tie).sum())
    tr = run(g, q, T, record=False)
    np.testing.assert_array_equal(tr.final["c1"]["S"], ir_codes)


def test_import_needs_a_converted_model():
    with pytest.raises(ConversionError, match="layer 'c1' is not a converted quantized module"):
        import_qat(CaLIFNet())
