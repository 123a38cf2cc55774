"""The golden simulator on another device: same dtypes, bit-identical traces."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from randnets import random_input, random_stbif_net

from hwsnn import sim
from hwsnn.errors import SimulationError
from hwsnn.sim._devices import conv2d_gemm

CUDA = torch.cuda.is_available()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("stride,padding,groups", [((1, 1), (1, 1), 1), ((2, 2), (0, 0), 1),
                                                   ((2, 1), (1, 0), 2), ((1, 1), (2, 2), 4)])
def test_gemm_convolution_equals_conv2d(dtype, stride, padding, groups):
    """The GPU convolution path (im2col + matmul), checked here on the CPU against F.conv2d."""
    g = torch.Generator().manual_seed(0)
    x = torch.randint(-8, 9, (3, 4, 9, 7), generator=g).to(dtype)
    W = torch.randint(-5, 6, (8, 4 // groups, 3, 3), generator=g).to(dtype)
    want = F.conv2d(x, W, stride=stride, padding=padding, groups=groups)
    got = conv2d_gemm(x, W, stride, padding, groups)
    assert got.shape == want.shape and torch.equal(got, want)


def test_explicit_cpu_equals_default():
    graph = random_stbif_net(5, kind="conv", depth=2)
    x = random_input(graph, 6, 1)
    a, b = sim.run(graph, x, 12), sim.run(graph, x, 12, device="cpu")
    for node, var, arr in a.variables():
        other = getattr(b, var)[node]
        assert other.dtype == arr.dtype and np.array_equal(other, arr)


def test_a_missing_cuda_device_is_a_clear_error():
    graph = random_stbif_net(5)
    if CUDA:
        n = torch.cuda.device_count()
        device, match = f"cuda:{n}", rf"device 'cuda:{n}': only {n} CUDA device\(s\) here"
    else:
        device, match = "cuda", r"device 'cuda': no CUDA device is available here"
    with pytest.raises(SimulationError, match=match):
        sim.run(graph, random_input(graph, 2, 1), 4, device=device)


def test_unknown_device_is_a_clear_error():
    graph = random_stbif_net(5)
    with pytest.raises(SimulationError, match=r"device must be 'cpu' or 'cuda\[:N\]', not 'tpu'"):
        sim.run(graph, random_input(graph, 2, 1), 4, device="tpu")


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="no CUDA device here: the CPU/GPU comparison needs one")
@pytest.mark.parametrize("seed,kind,neuron", [(1, "conv", "STBIF"), (2, "dense", "IF"),
                                              (3, "conv", "STBIF"), (4, "conv", "IF")])
def test_cuda_trace_is_bit_identical_to_cpu(seed, kind, neuron):
    graph = random_stbif_net(seed, kind=kind, depth=3, neuron=neuron, residual=True)
    x = random_input(graph, 64, seed)
    cpu, gpu = sim.run(graph, x, 16), sim.run(graph, x, 16, device="cuda")
    for node, var, arr in cpu.variables():
        other = getattr(gpu, var)[node]
        assert other.dtype == arr.dtype and np.array_equal(other, arr), (node, var)
    for node in cpu.final:
        assert np.array_equal(cpu.final[node]["V"], gpu.final[node]["V"])
    assert np.array_equal(cpu.t_eq, gpu.t_eq) and np.array_equal(cpu.settled, gpu.settled)
