"""Trace a float model with torch.fx and morph it into a QANN.

Rules: BatchNorm fused into the preceding Conv2d/Linear; MaxPool2d (and adaptive pools that
tile evenly) become average pools; ReLU becomes a Q-ReLU with `levels` levels; Dropout and
Identity vanish; Flatten, residual adds pass through. Anything else: UnsupportedLayerError.
"""

import operator

import torch
import torch.nn.functional as F
from torch import fx, nn

from ..errors import ConversionError, ShapeError, TraceError, UnsupportedLayerError
from ._qann import QANN, Op, module_key
from ._qrelu import QReLU

__all__ = ["convert", "trace", "fuse_bn", "SUPPORTED"]

SUPPORTED = ("Conv2d", "Linear", "BatchNorm1d", "BatchNorm2d", "ReLU", "MaxPool2d", "AvgPool2d",
             "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "Flatten", "Dropout", "Identity", "add",
             "torch.flatten", "F.relu")
_PASS = (nn.Dropout, nn.Identity)
_MODULES = (nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d, nn.AvgPool2d,
            nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Flatten) + _PASS
_ADD = (operator.add, operator.iadd, torch.add)
_RELU = (F.relu, torch.relu)


def trace(model, input_shape):
    """torch.fx GraphModule of `model` with output shapes propagated (TraceError if impossible)."""
    try:
        gm = fx.symbolic_trace(model)
    except Exception as exc:  # fx raises many types (TraceError, TypeError, ...)
        raise TraceError(f"model {type(model).__name__} cannot be traced by torch.fx: "
                         f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc
    mods = dict(gm.named_modules())
    for node in gm.graph.nodes:
        if node.op == "call_module" and not isinstance(mods[node.target], _MODULES):
            raise _unsupported(node.target, type(mods[node.target]).__name__)
    try:
        dtype = next((p.dtype for p in model.parameters()), torch.float32)
        with torch.no_grad():
            _ShapeRecorder(gm).record(torch.zeros((1, *input_shape), dtype=dtype))
    except Exception as exc:
        cause = exc.__cause__ or exc
        raise ShapeError(f"model {type(model).__name__} does not accept input shape "
                         f"{tuple(input_shape)}: {type(cause).__name__}: "
                         f"{str(cause).splitlines()[0] if str(cause) else ''}") from exc
    return gm


class _ShapeRecorder(fx.Interpreter):
    """Runs the graph once and stores each node's output shape in node.meta["hwsnn_shape"].
    Not fx's ShapeProp / Interpreter.run: they create a tqdm bar, whose multiprocessing lock
    fixes the start method, and Lava's runtime later fails to set its own."""

    def record(self, x):
        self.args_iter, self.env = iter([x]), {}
        for n in self.module.graph.nodes:
            out = self.env[n] = self.run_node(n)
            if isinstance(out, torch.Tensor):
                n.meta["hwsnn_shape"] = tuple(out.shape[1:])


def fuse_bn(layer, bn):
    """Copy of Conv2d/Linear `layer` with eval-mode BatchNorm `bn` folded in:
    W' = W * g/sqrt(var+eps), b' = (b - mean) * g/sqrt(var+eps) + beta."""
    dt = layer.weight.dtype
    fused = (nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                       layer.padding, groups=layer.groups, bias=True, dtype=dt)
             if isinstance(layer, nn.Conv2d) else nn.Linear(layer.in_features, layer.out_features, dtype=dt))
    with torch.no_grad():
        w, b = layer.weight.detach().double(), _bias(layer)
        if bn is not None:
            k = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
            w = w * k.reshape(-1, *([1] * (w.ndim - 1)))
            b = (b - bn.running_mean.double()) * k + bn.bias.detach().double()
        fused.weight.copy_(w.to(dt))
        fused.bias.copy_(b.to(dt))
    return fused


def _bias(layer):
    if layer.bias is None:
        return torch.zeros(layer.weight.shape[0], dtype=torch.float64)
    return layer.bias.detach().double()


def _shape(node):
    return node.meta.get("hwsnn_shape", ())


def _unsupported(path, what):
    return UnsupportedLayerError(f"layer '{path}' ({what}) has no conversion rule; "
                                 f"supported: {', '.join(SUPPORTED)}")


class _Builder:
    def __init__(self, gm, levels):
        self.gm, self.levels = gm, levels
        self.mods = dict(gm.named_modules())
        self.ops, self.modules, self.alias = [], {}, {}

    def src(self, arg, node):
        if not isinstance(arg, fx.Node):
            raise _unsupported(node.name, f"constant operand {arg!r}")
        return self.alias.get(arg.name, arg.name)

    def add(self, node, kind, inputs, module=None, source="", name=None, **attrs):
        name = name or (node.target if node.op == "call_module" else node.name)
        key = module_key(name) if module is not None else ""
        if module is not None:
            self.modules[name] = module
        self.ops.append(Op(name, kind, tuple(inputs), key, _shape(node), source, attrs))
        self.alias[node.name] = name

    def op(self, name):
        return next(op for op in self.ops if op.name == name)

    def pool(self, node, path, what, inp, kernel, stride, padding=0, ceil=False, dilation=1):
        if _pair(padding) != (0, 0) or ceil or _pair(dilation) != (1, 1):
            raise UnsupportedLayerError(f"layer '{path}' ({what}): padding, dilation and ceil_mode "
                                        f"must be 0, 1, False, not {padding}, {dilation}, {ceil}")
        stride = kernel if stride is None or stride == [] else stride
        self.add(node, "avgpool", [inp], nn.AvgPool2d(_pair(kernel), _pair(stride)), what,
                 name=path, kernel=_pair(kernel), stride=_pair(stride))

    def adaptive(self, node, path, what, inp, out_size):
        in_shape = _shape(node.args[0])
        out = _pair(out_size)
        out = tuple(in_shape[1 + i] if o is None else o for i, o in enumerate(out))
        if in_shape[1] % out[0] or in_shape[2] % out[1]:
            raise UnsupportedLayerError(f"layer '{path}' ({what}): input {in_shape[1:]} must be a "
                                        f"multiple of the output size {out}")
        k = (in_shape[1] // out[0], in_shape[2] // out[1])
        if k == (1, 1):
            self.alias[node.name] = inp
            return
        self.pool(node, path, what, inp, k, k)

    def batchnorm(self, node, path, mod, inp):
        prev = self.op(inp)
        if prev.kind not in ("conv", "linear") or len(node.args[0].users) > 1 or prev.attrs.get("bn"):
            raise UnsupportedLayerError(f"layer '{path}' ({type(mod).__name__}) must directly follow "
                                        f"a Conv2d or Linear used only by it, not '{prev.name}' "
                                        f"({prev.source or prev.kind})")
        self.modules[prev.name] = fuse_bn(self.modules[prev.name], mod)
        prev.attrs["bn"] = path
        prev.source += f" + {type(mod).__name__} '{path}' fused"
        prev.shape = _shape(node)
        self.alias[node.name] = prev.name

    def module(self, node):
        path, mod = node.target, self.mods[node.target]
        what = type(mod).__name__
        inp = self.src(node.args[0], node)
        if isinstance(mod, nn.Conv2d):
            if _pair(mod.dilation) != (1, 1) or mod.padding_mode != "zeros" or isinstance(mod.padding, str):
                raise UnsupportedLayerError(f"layer '{path}' (Conv2d): dilation 1, zero padding "
                                            f"given as numbers are required, not dilation={mod.dilation}, "
                                            f"padding={mod.padding!r}, padding_mode={mod.padding_mode!r}")
            self.add(node, "conv", [inp], fuse_bn(mod, None), what)
        elif isinstance(mod, nn.Linear):
            self.add(node, "linear", [inp], fuse_bn(mod, None), what)
        elif isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            self.batchnorm(node, path, mod, inp)
        elif isinstance(mod, nn.ReLU):
            self.add(node, "qrelu", [inp], QReLU(self.levels), what)
        elif isinstance(mod, (nn.MaxPool2d, nn.AvgPool2d)):
            kw = {"dilation": mod.dilation} if isinstance(mod, nn.MaxPool2d) else {}
            if isinstance(mod, nn.AvgPool2d) and not mod.count_include_pad and mod.padding:
                raise _unsupported(path, what + " with count_include_pad=False")
            self.pool(node, path, what, inp, mod.kernel_size, mod.stride, mod.padding, mod.ceil_mode, **kw)
        elif isinstance(mod, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            self.adaptive(node, path, what, inp, mod.output_size)
        elif isinstance(mod, nn.Flatten):
            self.flatten(node, path, what, inp, mod.start_dim, mod.end_dim)
        elif isinstance(mod, _PASS):
            self.alias[node.name] = inp
        else:
            raise _unsupported(path, what)

    def flatten(self, node, path, what, inp, start=1, end=-1):
        in_shape = _shape(node.args[0])
        if start != 1 or end not in (-1, len(in_shape)):
            raise UnsupportedLayerError(f"layer '{path}' ({what}) must flatten dims 1..-1, "
                                        f"not {start}..{end}")
        if len(in_shape) <= 1:
            self.alias[node.name] = inp
            return
        self.add(node, "flatten", [inp], nn.Flatten(1), what, name=path)

    def function(self, node):
        f, args = node.target, node.args
        fname = getattr(f, "__name__", str(f))
        if f in _ADD:
            if len(args) != 2 or node.kwargs:
                raise _unsupported(node.name, f"{fname} with arguments {args}")
            self.add(node, "add", [self.src(a, node) for a in args], source=fname)
        elif f in _RELU:
            self.add(node, "qrelu", [self.src(args[0], node)], QReLU(self.levels), fname)
        elif f is torch.flatten:
            start = args[1] if len(args) > 1 else node.kwargs.get("start_dim", 0)
            end = args[2] if len(args) > 2 else node.kwargs.get("end_dim", -1)
            self.flatten(node, node.name, "torch.flatten", self.src(args[0], node), start, end)
        elif f in (F.max_pool2d, F.avg_pool2d):
            kw = dict(zip(("kernel", "stride", "padding"), args[1:]), **node.kwargs)
            self.pool(node, node.name, fname, self.src(args[0], node), kw.get("kernel", kw.get("kernel_size")),
                      kw.get("stride"), kw.get("padding", 0), kw.get("ceil_mode", False))
        elif f in (F.adaptive_avg_pool2d, F.adaptive_max_pool2d):
            self.adaptive(node, node.name, fname, self.src(args[0], node),
                          args[1] if len(args) > 1 else node.kwargs["output_size"])
        else:
            raise _unsupported(node.name, f"function {fname}")

    def method(self, node):
        m, args = node.target, node.args
        if m == "size":
            return  # only feeds view/reshape arguments
        if m == "relu":
            self.add(node, "qrelu", [self.src(args[0], node)], QReLU(self.levels), "Tensor.relu")
        elif m == "flatten":
            start = args[1] if len(args) > 1 else node.kwargs.get("start_dim", 0)
            self.flatten(node, node.name, "Tensor.flatten", self.src(args[0], node), start)
        elif m in ("view", "reshape") and len(_shape(node)) == 1:
            self.flatten(node, node.name, f"Tensor.{m}", self.src(args[0], node))
        else:
            raise _unsupported(node.name, f"method Tensor.{m}")

    def build(self):
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                if self.ops:
                    raise _unsupported(node.name, "second input")
                self.add(node, "input", [], source="input", name="input")
            elif node.op == "call_module":
                self.module(node)
            elif node.op == "call_function":
                self.function(node)
            elif node.op == "call_method":
                self.method(node)
            elif node.op == "output":
                arg = node.args[0]
                if not isinstance(arg, fx.Node):
                    raise _unsupported("output", f"output {type(arg).__name__} (one tensor expected)")
                self.add(node, "output", [self.src(arg, node)], source="output", name="output")
            else:
                raise _unsupported(node.name, f"{node.op} {node.target}")
        return self.ops, self.modules


def _pair(v):
    if isinstance(v, (list, tuple)):
        return tuple(int(x) for x in v) if len(v) == 2 else (int(v[0]), int(v[0]))
    return (int(v), int(v))


def convert(model, input_shape, levels=8, calib=None, name=None):
    """QANN of float `model` for inputs of shape `input_shape` (C, H, W) or (N,).

    `levels` is n of every Q-ReLU. `calib` (a float batch) sets each Q-ReLU's initial step s to
    the 99.9th percentile of its input over n (else s = 1). Raises UnsupportedLayerError naming
    the module path of a layer without a conversion rule, TraceError if fx cannot trace.
    """
    if int(levels) != levels or not 1 <= levels <= 1 << 15:
        raise ConversionError(f"levels must be an integer in [1, 32768], not {levels!r}")
    was_training = model.training
    model.eval()
    try:
        gm = trace(model, input_shape)
        ops, modules = _Builder(gm, int(levels)).build()
    finally:
        model.train(was_training)
    qann = QANN(ops, modules, levels, input_shape, name or type(model).__name__)
    dtype = next((p.dtype for p in model.parameters()), torch.float32)
    qann.to(dtype)
    qann.eval()
    if calib is not None:
        from ._finetune import calibrate
        calibrate(qann, calib)
    return qann
