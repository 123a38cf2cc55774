"""Model factories for the CLI tests (imported by `hwsnn compile --model cli_models:...`)."""

import torch
from torch import nn


def tiny_mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))


class _WithLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Flatten(), nn.Linear(16, 4), nn.ReLU(), nn.LSTM(4, 4))

    def forward(self, x):
        return self.features(x)


def with_lstm():
    return _WithLSTM()


class _Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 3)

    def forward(self, x):
        x = torch.flatten(x, 1)
        return self.fc(x) if x.sum() > 0 else -self.fc(x)


def branchy():
    return _Branchy()
