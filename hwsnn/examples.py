"""The bundled examples on scikit-learn's digits (8x8 images, pixel values 0..16): a small CNN
and a small ResNet (torchvision-style blocks with one shared ReLU module each).

Split: the first 1437 samples train, the last 360 test. Float input = pixel / 16, so the
integer input q is the raw pixel value (0..16) with input scale s_in = 1/16.
Weights: `hwsnn/data/digits_cnn.safetensors` (made by scripts/train_digits.py), read with
safetensors only; `digits_cnn.json` records architecture, levels, scales and accuracies.
"""

import json
from importlib import resources

import numpy as np
import torch
from torch import nn

__all__ = ["digits_cnn", "digits_data", "load_digits_model", "load_digits_ir", "DIGITS_NAME",
           "digits_resnet", "load_digits_resnet", "DigitsResNet", "BasicBlock", "DIGITS_INPUT_SHAPE",
           "DIGITS_INPUT_SCALE", "DIGITS_INPUT_RANGE", "DIGITS_WEIGHTS", "DIGITS_INFO", "N_TRAIN",
           "load_digits_maxpool_model", "load_digits_maxpool_ir"]

DIGITS_NAME = "digits-cnn"   # the IR graph's name
DIGITS_INPUT_SHAPE = (1, 8, 8)
DIGITS_INPUT_SCALE = 1.0 / 16
DIGITS_INPUT_RANGE = (0, 16)
DIGITS_WEIGHTS = "digits_cnn.safetensors"
DIGITS_INFO = "digits_cnn.json"
N_TRAIN = 1437
RESNET_WEIGHTS = "digits_resnet.safetensors"
RESNET_INFO = "digits_resnet.json"
MAXPOOL_WEIGHTS = "digits_cnn_maxpool.safetensors"  # the digits CNN with exact max pooling
MAXPOOL_INFO = "digits_cnn_maxpool.json"


def digits_cnn():
    """conv(1->16,3,pad 1)-BN-ReLU-MaxPool2 -> conv(16->32,3,pad 1)-BN-ReLU-MaxPool2 -> flatten
    -> linear(128->64)-ReLU -> linear(64->10). Untrained (load the bundled weights for those)."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))


class BasicBlock(nn.Module):
    """torchvision-style residual block: conv-BN-relu-conv-BN, + shortcut, relu, with ONE ReLU
    module called twice (`self.relu`; hwsnn names the calls `relu` and `relu.1`); a strided
    1x1 conv + BN shortcut when the shape changes."""

    def __init__(self, c_in, c_out, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                            nn.BatchNorm2d(c_out))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class DigitsResNet(nn.Module):
    """stem conv(1->16,3,p1)-BN-ReLU -> BasicBlock(16) -> BasicBlock(16->32, stride 2, 1x1
    downsample) -> AdaptiveAvgPool2d(1) -> torch.flatten -> Linear(32->10)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = BasicBlock(16, 16)
        self.layer2 = BasicBlock(16, 32, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer2(self.layer1(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def digits_resnet():
    """The small digits ResNet (untrained; `load_digits_resnet` gives the bundled weights)."""
    return DigitsResNet()


def load_digits_resnet():
    """(float model, fine-tuned QANN, info) of the bundled digits ResNet
    (hwsnn/data/digits_resnet.safetensors, made by scripts/train_digits_resnet.py)."""
    from .convert import load_weights

    with resources.as_file(_data_file(RESNET_WEIGHTS)) as path:
        model, qann, _ = load_weights(digits_resnet(), str(path), DIGITS_INPUT_SHAPE)
    return model, qann, json.loads(_data_file(RESNET_INFO).read_text())


def digits_data():
    """(x_train, y_train, x_test, y_test): integer pixels (N, 1, 8, 8) int64 in 0..16, labels."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = d.images.astype(np.int64).reshape(-1, *DIGITS_INPUT_SHAPE)
    y = d.target.astype(np.int64)
    return x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]


def _data_file(name):
    return resources.files("hwsnn.data").joinpath(name)


def digits_info():
    """The JSON record written with the bundled weights (levels, scales, accuracies, steps)."""
    return json.loads(_data_file(DIGITS_INFO).read_text())


def load_digits_model():
    """(float model, fine-tuned QANN, info) from the bundled weights."""
    from .convert import load_weights

    with resources.as_file(_data_file(DIGITS_WEIGHTS)) as path:
        model, qann, _ = load_weights(digits_cnn(), str(path), DIGITS_INPUT_SHAPE)
    return model, qann, digits_info()


def load_digits_maxpool_model():
    """(float model, fine-tuned max-pool QANN, info) of the digits CNN whose pools stay exact
    max pools (hwsnn/data/digits_cnn_maxpool.*, made by scripts/train_digits_maxpool.py)."""
    from .convert import load_weights

    with resources.as_file(_data_file(MAXPOOL_WEIGHTS)) as path:
        model, qann, _ = load_weights(digits_cnn(), str(path), DIGITS_INPUT_SHAPE)
    return model, qann, json.loads(_data_file(MAXPOOL_INFO).read_text())


def load_digits_maxpool_ir(n_test=None, delays=0):
    """As `load_digits_ir`, for the max-pool digits CNN (IR MaxPool2d nodes "3" and "7")."""
    from .compile import compile_qann

    _, qann, info = load_digits_maxpool_model()
    graph = compile_qann(qann, input_scale=DIGITS_INPUT_SCALE, input_range=DIGITS_INPUT_RANGE,
                         w_bits=info.get("w_bits", 8), delays=delays, name="digits-cnn-maxpool")
    _, _, x, y = digits_data()
    if n_test is not None:
        x, y = x[:n_test], y[:n_test]
    return graph, x, y, int(info["steps"])


def load_digits_ir(n_test=None, delays=0):
    """(graph, x_test_int, y_test, steps) for the bundled model.

    graph: the integer IR (ST-BIF, levels from the weights file), compiled with w_bits=8, R=1,
    delays 0 (pass delays=1 or use graph.with_delays(1)); x_test_int: (N, 1, 8, 8) int64 in
    0..16 (the first n_test of the 360 test images, all if None); y_test: (N,) labels;
    steps: enough for every test sample to reach equilibrium (recorded max t_eq + margin).
    """
    from .compile import compile_qann

    _, qann, info = load_digits_model()
    graph = compile_qann(qann, input_scale=DIGITS_INPUT_SCALE, input_range=DIGITS_INPUT_RANGE,
                         w_bits=info.get("w_bits", 8), delays=delays, name=DIGITS_NAME)
    _, _, x, y = digits_data()
    if n_test is not None:
        x, y = x[:n_test], y[:n_test]
    return graph, x, y, int(info["steps"])
