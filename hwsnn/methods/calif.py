"""Ca-LIF: import a network quantized by PyTorch's own QAT toolkit (torch.ao, int8, x86 qconfig)
and lower it to Ca-LIF neurons (bipolar leaky IF with calcium gate and rounding spikes).

A converted torch int8 layer computes, with input codes x_q (zero point z_x), per-channel
weight scales S_w, input scale S_x, output scale S_y and float bias b:
    y_q = clip(round((sum W_q (x_q - z_x) + b / (S_w S_x)) * S_w S_x / S_y), 0, q_max)   (ReLU fused)
Ca-LIF with threshold V_th = S_y / (S_w S_x) and per-step leak = -(b/(S_w S_x) - z_x sum W_q) / T
counts max(0, round_half_up((sum W_q x_q - T leak) / V_th)), clipped at s_max = q_max: the
same code up to ties (torch rounds half to even) and the integer rounding below. The IR needs
integers: each layer is multiplied by K = 2^k (W_int = K W_q exactly, theta = round(K V_th),
leak = round(-K B / T)) with K the smallest power of two giving theta >= 2^10.
Average pooling (quantized avg_pool2d keeps the scale): SumPool2d + Ca-LIF without the gate,
theta = 4 (round_half_up(sum/4)). The last Linear (per-tensor weights, no ReLU) ends in the
Readout: V = sum W_q x_q + round(b / (S_w S_x)); the bias comes from one extra always-on
neuron appended to the last hidden layer (zero weights, theta = T, leak = -1: count
round_half_up(T/T) = 1) through an extra weight column b_int, so the graph stays a chain.
"""

import numpy as np
import torch
from torch import nn

from .. import ir
from ..errors import ConversionError
from ..compile import fit_widths

__all__ = ["CaLIFNet", "qat_model", "import_qat", "calif_graph", "train_calif", "load_calif",
           "THETA_MIN"]

THETA_MIN = 1 << 10


class CaLIFNet(nn.Module):
    """The digits CNN in torch.ao eager form: quant stub, conv-BN-ReLU (fused by QAT), average
    pool, linear-ReLU, linear."""

    def __init__(self):
        import torch.ao.quantization as tq
        super().__init__()
        self.quant, self.dequant = tq.QuantStub(), tq.DeQuantStub()
        self.c1, self.bn1, self.r1 = nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU()
        self.c2, self.bn2, self.r2 = nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU()
        self.p1, self.p2 = nn.AvgPool2d(2), nn.AvgPool2d(2)
        self.flat = nn.Flatten()
        self.f1, self.r3, self.f2 = nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10)

    def forward(self, x):
        x = self.p1(self.r1(self.bn1(self.c1(self.quant(x)))))
        x = self.p2(self.r2(self.bn2(self.c2(x))))
        return self.dequant(self.f2(self.r3(self.f1(self.flat(x)))))


def qat_model(model):
    """prepare_qat on `model` (a CaLIFNet) with the x86 qconfig; the last Linear gets per-tensor
    weights (one logit unit for every class)."""
    import torch.ao.quantization as tq
    model.train()
    model.qconfig = tq.get_default_qat_qconfig("x86")
    model.f2.qconfig = tq.QConfig(activation=model.qconfig.activation,
                                  weight=tq.default_weight_fake_quant)
    tq.fuse_modules_qat(model, [["c1", "bn1", "r1"], ["c2", "bn2", "r2"], ["f1", "r3"]], inplace=True)
    return tq.prepare_qat(model, inplace=True)


def _layer(mod, kind):
    w = mod.weight()
    if w.qscheme() in (torch.per_channel_symmetric, torch.per_channel_affine):
        sw = w.q_per_channel_scales().double()
    else:
        sw = torch.full((w.shape[0],), float(w.q_scale()), dtype=torch.float64)
    d = {"kind": kind, "W": w.int_repr().to(torch.int64), "S_w": sw,
         "b": mod.bias().detach().double() if mod.bias() is not None else torch.zeros(w.shape[0], dtype=torch.float64),
         "S_y": torch.tensor(float(mod.scale), dtype=torch.float64),
         "z_y": torch.tensor(int(mod.zero_point))}
    if kind == "conv":
        d["stride"], d["padding"] = torch.tensor(mod.stride), torch.tensor(mod.padding)
    return d


def import_qat(qmodel):
    """The integer parameters of a converted CaLIFNet (torch.ao.quantization.convert), as a dict
    of tensors: input S_x / z_x, and per layer W_q, S_w, b, S_y, z_y (safetensors-ready)."""
    q = qmodel
    for name in ("c1", "c2", "f1", "f2"):
        if not hasattr(getattr(q, name), "weight") or not callable(getattr(q, name).weight):
            raise ConversionError(f"layer '{name}' is not a converted quantized module: run "
                                  f"torch.ao.quantization.convert first")
    out = {"input.S_x": torch.tensor(float(q.quant.scale), dtype=torch.float64),
           "input.z_x": torch.tensor(int(q.quant.zero_point))}
    for name, kind in (("c1", "conv"), ("c2", "conv"), ("f1", "linear"), ("f2", "linear")):
        for k, v in _layer(getattr(q, name), kind).items():
            if k != "kind":
                out[f"{name}.{k}"] = v
    for name in ("c1", "c2"):
        if int(out[f"{name}.z_y"]) != 0:
            raise ConversionError(f"layer '{name}': a ReLU-fused output must have zero point 0, not "
                                  f"{int(out[f'{name}.z_y'])}")
    return out


def _pow2_K(theta_min):
    return 1 if theta_min >= THETA_MIN else 2 ** int(np.ceil(np.log2(THETA_MIN / theta_min)))


def encoder(imported):
    """Pixels 0..16 -> the int8 model's input codes quantize_per_tensor(pixel / 16, S_x, z_x)."""
    s, z = float(imported["input.S_x"]), int(imported["input.z_x"])

    def encode(x):
        import warnings
        xf = torch.as_tensor(np.asarray(x), dtype=torch.float32) / 16
        with warnings.catch_warnings():  # quantized tensor creation is deprecated, still exact
            warnings.simplefilter("ignore", UserWarning)
            return torch.quantize_per_tensor(xf, s, z, torch.quint8).int_repr().numpy().astype(np.int64)
    return encode


def calif_graph(imported, T, q_max=255):
    """IR graph with Ca-LIF neurons (window T) of an `import_qat` dict; returns (graph, encode).
    q_max = 255: torch clamps requantized quint8 codes to the dtype range (reduce_range only
    narrows the observed range that sets S_y)."""
    if T < 1:
        raise ConversionError(f"T must be >= 1, not {T}")
    P = imported
    nodes, edges, meta = {"input": ir.Source((1, 8, 8), "analog", R=1, x_bits=9)}, [], {"layers": {}}
    S_x, z_x = float(P["input.S_x"]), int(P["input.z_x"])
    prev, shape = "input", (1, 8, 8)

    def add(name, node, src):
        nodes[name] = node
        edges.append(ir.Edge(src, name))
        return name

    for name, pool in (("c1", "p1"), ("c2", "p2"), ("f1", None), ("f2", None)):
        W, S_w, b = P[f"{name}.W"], P[f"{name}.S_w"], P[f"{name}.b"]
        S_y = float(P[f"{name}.S_y"])
        dims = (1,) * (W.ndim - 1)
        wsum = W.reshape(W.shape[0], -1).sum(1).double()
        B = b / (S_w * S_x) - z_x * wsum          # bias in units of one input-code x weight-code
        conv = W.ndim == 4
        if name == "f1":
            prev = add("flat", ir.Flatten(), prev)
        if name == "f2":                           # readout: per-tensor S_w, exact integer bias
            b_int = np.rint(B.numpy()).astype(np.int64)
            W = np.concatenate([W.numpy(), b_int[:, None]], axis=1)   # column of the bias neuron
            syn = add(name, ir.Dense(W, w_bits=ir.bits_for(min(int(W.min()), -1), max(int(W.max()), 1))), prev)
            nodes["output"] = ir.Readout((W.shape[0],))
            edges.append(ir.Edge(syn, "output"))
            meta["logit_scale"] = float(S_w[0]) * S_x
            break
        theta_f = S_y / (S_w * S_x)
        K = _pow2_K(float(theta_f.min()))
        theta = torch.round(K * theta_f).to(torch.int64).clamp(min=1)
        leak = torch.round(-K * B / T).to(torch.int64)
        Wk = (W * K).numpy()
        if name == "f1":          # one always-on neuron (count 1) carries the readout's bias
            Wk = np.concatenate([Wk, np.zeros((1, Wk.shape[1]), dtype=np.int64)])
            theta = torch.cat([theta, torch.tensor([T])])
            leak = torch.cat([leak, torch.tensor([-1])])
            meta.setdefault("bias_neurons", {})[name] = {"first": int(W.shape[0]), "counts": [1]}
        syn = (ir.Conv2d(Wk, tuple(P[f"{name}.stride"].tolist()), tuple(P[f"{name}.padding"].tolist()),
                         w_bits=ir.bits_for(int(Wk.min()), int(Wk.max())))
               if conv else ir.Dense(Wk, w_bits=ir.bits_for(int(Wk.min()), int(Wk.max()))))
        s = add(f"{name}.syn", syn, prev)
        out_shape = (W.shape[0], *shape[1:]) if conv else (Wk.shape[0],)
        nodes[name] = ir.CaLIF(out_shape, theta=theta.reshape(-1, *dims[:2]).numpy() if conv else theta.numpy(),
                               leak=leak.reshape(-1, *dims[:2]).numpy() if conv else leak.numpy(),
                               T=T, s_max=q_max, gate=True)
        edges.append(ir.Edge(s, name))
        meta["layers"][name] = {"K": K, "theta_float": theta_f.tolist(), "S_y": S_y,
                                **({"bias_neurons": meta.pop("bias_neurons")[name]} if name == "f1" else {})}
        prev, shape, S_x, z_x = name, out_shape, S_y, 0
        if pool:
            sp = add(f"{pool}.sum", ir.SumPool2d((2, 2), (2, 2)), prev)
            shape = (shape[0], shape[1] // 2, shape[2] // 2)
            nodes[pool] = ir.CaLIF(shape, theta=np.array(4), leak=np.array(0), T=T, s_max=q_max, gate=False)
            edges.append(ir.Edge(sp, pool))
            prev = pool
    g = ir.Graph(nodes, edges, "digits_calif", dict(meta, neuron="CaLIF", T=T))
    return fit_widths(g, (0, 255)), encoder(imported)


def train_calif(xtr, ytr, xte, yte, path, seed=0, epochs=30, qat_epochs=8):
    """Float training, torch.ao QAT (prepare_qat -> train -> convert), import, save."""
    import torch.ao.quantization as tq
    from ._digits import save_state
    from ._digits import accuracy, digits_loader

    torch.manual_seed(seed)
    model = CaLIFNet()
    loader = digits_loader(xtr, ytr, seed=seed)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    for _ in range(epochs):
        model.train()
        for x, y in loader:
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    float_acc = accuracy(model, xte, yte)
    qat_model(model)
    opt = torch.optim.Adam(model.parameters(), lr=5e-4)
    for _ in range(qat_epochs):
        model.train()
        for x, y in loader:
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    model.eval()
    qm = tq.convert(model)
    int8_acc = accuracy(qm, xte, yte)
    imported = import_qat(qm)
    from ..sim import count
    g, encode = calif_graph(imported, 1)
    out = count(g, encode(xte))["output"].argmax(1)
    with torch.no_grad():
        ref = qm(torch.as_tensor(xte, dtype=torch.float32) / 16).argmax(1).numpy()
    rep = {"float_accuracy": float_acc, "int8_accuracy": int8_acc,
           "ir_accuracy": float((out == yte).mean()), "ir_argmax_equals_int8": float((out == ref).mean())}
    save_state(path, imported, {"method": "calif", **rep,
                                "epochs": epochs, "qat_epochs": qat_epochs, "seed": seed})
    return rep


def load_calif():
    from ._digits import load_state
    tensors, _ = load_state("calif.safetensors")
    return tensors
