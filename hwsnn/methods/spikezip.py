"""SpikeZIP (ST-BIF conversion): Paths-Ensemble Training (PET) and Residual Connection
Re-routing (RCR, below).

PET on a float model with BatchNorm and ReLU.

The model is first morphed as `hwsnn.convert.convert` does (max pools become average pools).

Three paths share every parametric layer (conv, linear, BN's gamma and beta); each path has its
own BN batch statistics (mu, sigma) and its own Q-ReLU levels n_i in {n, n/2, n/4} with the
shared learnable step s scaled as {s, 2s, 4s} (Eq. 4: (n s / n_i) clip(round(n_i x / (n s)),
0, n_i), round half up). Loss (Eq. 6): L_mp + alpha * sum_i (n_i / n) L_sp,i, where L_mp is the
cross-entropy of the major path and L_sp,i the distillation loss (KL to the float teacher's
soft labels, LSQ-style). Only the major path becomes the QANN (`export_major`).
"""

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..convert import QReLU, constrain, convert, round_half_up
from ..convert._qann import Op, module_key
from ..errors import ConversionError

__all__ = ["PETNet", "pet_train", "export_major", "reroute_residuals"]


class _PathBN(nn.Module):
    """BatchNorm with shared gamma/beta and per-path running statistics."""

    def __init__(self, bn, paths, net):
        super().__init__()
        self.net = [net]                       # not a submodule (no cycle)
        self.weight, self.bias, self.eps, self.momentum = bn.weight, bn.bias, bn.eps, bn.momentum
        self.register_buffer("means", bn.running_mean.detach().clone().repeat(paths, 1))
        self.register_buffer("vars", bn.running_var.detach().clone().repeat(paths, 1))

    def forward(self, x):
        p = self.net[0].path
        return F.batch_norm(x, self.means[p], self.vars[p], self.weight, self.bias,
                            self.training, self.momentum, self.eps)


class _PathQReLU(nn.Module):
    """Q-ReLU of the current path: step s * n / n_i, levels n_i (shared learnable s)."""

    def __init__(self, levels, scale, net):
        super().__init__()
        self.net, self.levels = [net], levels
        self.scale = nn.Parameter(torch.tensor(float(scale)))

    def constrain(self):
        self.scale.clamp_(min=1e-6)  # the shared step stays positive (convert.constrain)

    def forward(self, x):
        n_i = self.net[0].levels[self.net[0].path]
        s = self.scale * self.levels / n_i
        if self.training:
            s = (s - s / math.sqrt(x[0].numel() * n_i)).detach() + s / math.sqrt(x[0].numel() * n_i)
        v = torch.clamp(x / s, 0, n_i)
        return ((round_half_up(v) - v).detach() + v) * s


class PETNet(nn.Module):
    """A copy of float `model` whose BNs and ReLUs become path-aware; `forward(x, path)`."""

    def __init__(self, model, levels, scales):
        super().__init__()
        if levels < 4 or levels % 4:
            raise ConversionError(f"PET levels n must be a multiple of 4 (paths n, n/2, n/4), not {levels}")
        self.levels, self.path = (levels, levels // 2, levels // 4), 0
        self.body = copy.deepcopy(model)
        relus = [n for n, m in self.body.named_modules() if isinstance(m, nn.ReLU)]
        if len(relus) != len(scales):
            raise ConversionError(f"PET needs one initial step per ReLU: {len(relus)} ReLUs, "
                                  f"{len(scales)} steps")
        for name, m in list(self.body.named_modules()):
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                self._set(name, _PathBN(m, 3, self))
            elif isinstance(m, nn.MaxPool2d):      # SNN-friendly morphing, as convert() does
                self._set(name, nn.AvgPool2d(m.kernel_size, m.stride))
        for name, s in zip(relus, scales):
            self._set(name, _PathQReLU(levels, s, self))

    def _set(self, name, mod):
        parent, _, leaf = name.rpartition(".")
        setattr(self.body.get_submodule(parent) if parent else self.body, leaf, mod)

    def forward(self, x, path=0):
        self.path = path
        return self.body(x)


def pet_train(pet, teacher, loader, epochs, lr=1e-3, alpha=1.0, tau=1.0):
    """Ensemble loss L_mp + alpha sum (n_i/n) KL(teacher || path i), Adam, `epochs` passes."""
    opt = torch.optim.Adam(pet.parameters(), lr=lr)
    teacher.eval()
    hist = []
    for _ in range(epochs):
        pet.train()
        tot = cnt = 0
        for x, y in loader:
            with torch.no_grad():
                soft = F.softmax(teacher(x) / tau, 1)
            opt.zero_grad()
            loss = F.cross_entropy(pet(x, 0), y)
            for i in (1, 2):
                logp = F.log_softmax(pet(x, i) / tau, 1)
                loss = loss + alpha * pet.levels[i] / pet.levels[0] * F.kl_div(logp, soft, reduction="batchmean")
            loss.backward()
            opt.step()
            constrain(pet)
            tot += loss.item() * len(y)
            cnt += len(y)
        hist.append(tot / max(cnt, 1))
    pet.eval()
    return hist


def export_major(pet, model, input_shape):
    """QANN of the major path: `model` (same architecture) gets the shared weights and the major
    path's BN statistics, is converted with n levels, and its Q-ReLUs get the trained steps."""
    float_model = copy.deepcopy(model)
    src = dict(pet.body.named_modules())
    for name, m in float_model.named_modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            with torch.no_grad():
                m.weight.copy_(src[name].weight)
                m.bias.copy_(src[name].bias)
                m.running_mean.copy_(src[name].means[0])
                m.running_var.copy_(src[name].vars[0])
        elif isinstance(m, (nn.Conv2d, nn.Linear)):
            m.load_state_dict(src[name].state_dict())
    float_model.eval()
    qann = convert(float_model, input_shape, levels=pet.levels[0], pool="avg")
    steps = [m.scale.item() for m in pet.body.modules() if isinstance(m, _PathQReLU)]
    for op, s in zip(qann.qrelus, steps):
        with torch.no_grad():
            qann.layers[op.key].scale.fill_(s)
    return float_model, qann


# --- Residual Connection Re-routing (RCR) ---------------------------------------------
"""SpikeZIP Residual Connection Re-routing (RCR) on a QANN: a QANN -> QANN pass.

A residual block ends in q(add(branch, shortcut)): the neuron layer after the addition is a
spiking bottleneck. RCR moves the addition after the Q-ReLU: add(q(branch), shortcut) for an
identity shortcut (the shortcut is already a Q-ReLU's output), add(q(branch), q'(shortcut)) for
a convolution shortcut (q' a new Q-ReLU with q's step). Layers reading q now read the sum, which
`hwsnn.compile` lowers to synapses from both neuron layers (Scale for the identity path).
The network function changes: fine-tune the QANN after the pass (SpikeZIP does RCR before QAT).
"""

def reroute_residuals(qann):
    """Copy of `qann` with every add -> Q-ReLU pair re-routed; returns (qann, names of the adds)."""
    q = copy.deepcopy(qann)
    by = {op.name: op for op in q.ops}
    users = {}
    for op in q.ops:
        for i in op.inputs:
            users.setdefault(i, []).append(op.name)
    done = []
    ops = list(q.ops)
    for add in [op for op in ops if op.kind == "add"]:
        after = users.get(add.name, [])
        if len(after) != 1 or by[after[0]].kind != "qrelu":
            continue
        relu = by[after[0]]
        ins = list(add.inputs)
        if all(by[i].kind == "qrelu" for i in ins):
            continue
        new_ops = []
        branch_done = False
        for k, src in enumerate(ins):
            if by[src].kind == "qrelu":
                continue
            if not branch_done:                         # the branch gets the block's Q-ReLU
                new_ops.append(Op(relu.name, "qrelu", (src,), relu.key, by[src].shape, relu.source + " (RCR)"))
                ins[k] = relu.name
                branch_done = True
            else:                                       # a conv shortcut gets a new one
                name = f"{relu.name}.shortcut"
                q.layers[module_key(name)] = QReLU(q.levels, scale=float(q.layers[relu.key].scale.detach()))
                new_ops.append(Op(name, "qrelu", (src,), module_key(name), by[src].shape, "RCR shortcut"))
                ins[k] = name
        moved = Op(add.name, "add", tuple(ins), "", add.shape, add.source + " (RCR)", dict(add.attrs))
        i_add, i_relu = ops.index(add), ops.index(relu)
        ops = ops[:i_add] + new_ops + [moved] + ops[i_add + 1:i_relu] + ops[i_relu + 1:]
        for j, op in enumerate(ops):
            if relu.name in op.inputs and op.name not in (relu.name, add.name):
                ops[j] = Op(op.name, op.kind, tuple(add.name if i == relu.name else i for i in op.inputs),
                            op.key, op.shape, op.source, op.attrs)
        by = {op.name: op for op in ops}
        done.append(add.name)
    q.ops = ops
    return q, done
