"""Trace a float model with torch.fx and morph it into a QANN.

Rules: BatchNorm fused into the preceding Conv2d/Linear; MaxPool2d (and AdaptiveMaxPool2d that
tiles evenly) stays an exact max pool (`pool="max"`, the default; ceil_mode allowed) or becomes an
average pool (`pool="avg"`, the papers' swap); AvgPool2d (and adaptive average pools that tile
evenly) stay average pools (zero padding allowed: inputs are >= 0 after a ReLU); ReLU
(module, F.relu, torch.relu, Tensor.relu) and ReLU6 become a Q-ReLU with `levels` levels;
Dropout and Identity vanish; Flatten (and view/reshape to (batch, -1)), residual adds pass
through; a BatchNorm that cannot fuse stays a per-channel affine op (the compiler folds it);
channel concatenation, channel maps and spatial means: see _channels.py. Anything else:
UnsupportedLayerError naming the op.

Op names (and so IR node names) are the model's module paths. A module called at several
sites gets one op per call: the first call is named `path`, the k-th further call `path.k`
(torchvision's BasicBlock calls `self.relu` twice: `layer1.0.relu`, `layer1.0.relu.1`).
A function or method is named after the module whose forward calls it and the function,
`layer1.0.add` (`add` for operator.add/iadd, torch.add; `relu`, `flatten`, ...), numbered the
same way; at the top level it is the bare function name. A name already taken gets the next
free number.
"""

import operator

import torch
import torch.nn.functional as F
from torch import fx, nn

from ..errors import ConversionError, ShapeError, TraceError, UnsupportedLayerError
from ._channels import CeilAvgPool, affine_op, ceil_extra, channel_rule
from ._qann import QANN, Op, module_key
from ._qrelu import QReLU

__all__ = ["convert", "trace", "fuse_bn", "SUPPORTED"]

SUPPORTED = ("Conv2d", "Linear", "BatchNorm1d", "BatchNorm2d", "ReLU", "ReLU6", "MaxPool2d",
             "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "Flatten", "Dropout", "Identity",
             "x + y", "torch.add", "F.relu", "torch.relu", "torch.flatten", "view/reshape to flat",
             "torch.cat on channels", "channel chunk/split/shuffle", "mean over H, W")
_PASS = (nn.Dropout, nn.Identity)
_MODULES = (nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.MaxPool2d,
            nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Flatten) + _PASS
_ADD = (operator.add, operator.iadd, torch.add)
_RELU = (F.relu, torch.relu)
_FN_NAMES = {operator.add: "add", operator.iadd: "add", torch.add: "add", F.relu: "relu",
             torch.relu: "relu"}


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
            elif not (isinstance(out, (tuple, list)) and any(isinstance(o, torch.Tensor) for o in out)):
                n.meta["hwsnn_const"] = out  # a size or int: layout ops read it (_channels.py)


def fuse_bn(layer, bn):
    """Copy of Conv2d/Linear `layer` with eval-mode BatchNorm `bn` (or None) folded in:
    W' = W * g/sqrt(var+eps), b' = (b - mean) * g/sqrt(var+eps) + beta."""
    fused = _copy(layer)
    if bn is not None:
        _fold_bn_(fused, bn)
    return fused


def _copy(layer, share=False):
    """Conv2d/Linear copy of `layer` with a bias (zeros if it had none); no random init.
    `share`: the copy holds `layer`'s own weight (and bias) tensors instead of copies."""
    dt = layer.weight.dtype
    if isinstance(layer, nn.Conv2d):
        new = nn.utils.skip_init(nn.Conv2d, layer.in_channels, layer.out_channels, layer.kernel_size,
                                 layer.stride, layer.padding, groups=layer.groups, bias=True, dtype=dt)
    else:
        new = nn.utils.skip_init(nn.Linear, layer.in_features, layer.out_features, dtype=dt)
    if share:
        new.weight = layer.weight
        if layer.bias is not None:
            new.bias = layer.bias
        else:
            with torch.no_grad():
                new.bias.zero_()
        return new
    with torch.no_grad():
        new.weight.copy_(layer.weight)
        if layer.bias is None:
            new.bias.zero_()
        else:
            new.bias.copy_(layer.bias)
    return new


@torch.no_grad()
def _fold_bn_(layer, bn):
    """Fold eval-mode `bn` into `layer` in place (per-channel factors in float64)."""
    dt = layer.weight.dtype
    k = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
    b = (layer.bias.double() - bn.running_mean.double()) * k + bn.bias.detach().double()
    layer.weight.mul_(k.to(dt).reshape(-1, *([1] * (layer.weight.ndim - 1))))
    layer.bias.copy_(b.to(dt))


def _shape(node):
    return node.meta.get("hwsnn_shape", ())


def _unsupported(path, what):
    return UnsupportedLayerError(f"layer '{path}' ({what}) has no conversion rule; "
                                 f"supported: {', '.join(SUPPORTED)}")


class _Builder:
    def __init__(self, gm, levels, share=False, pool="max"):
        self.gm, self.levels, self.share, self.max_pool = gm, levels, share, pool == "max"
        self.mods = dict(gm.named_modules())
        self.ops, self.modules, self.alias = [], {}, {}
        self.calls, self.taken = {}, {"input", "output"}
        self.up = {}  # fx node name -> (C, in_hw, out_hw, flat) of an enlarging adaptive pool
        self.layout = {}  # fx node name -> (base fx node, layout chain) not yet a channel map

    def site(self, node):
        """The op name of fx `node` (see the module docstring), given once per node."""
        if "hwsnn_name" in node.meta:
            return node.meta["hwsnn_name"]
        if node.op == "call_module":
            base = node.target
        else:
            f = node.target
            fname = _FN_NAMES.get(f, f if isinstance(f, str) else getattr(f, "__name__", str(f)))
            stack = list((node.meta.get("nn_module_stack") or {}).values())
            owner = stack[-1][0] if stack else ""
            base = f"{owner}.{fname}" if owner else fname
        k = self.calls.get(base, 0)
        name = base if k == 0 else f"{base}.{k}"
        while name in self.taken:
            k += 1
            name = f"{base}.{k}"
        self.calls[base] = k + 1
        self.taken.add(name)
        node.meta["hwsnn_name"] = name
        return name

    def src(self, arg, node):
        if not isinstance(arg, fx.Node):
            raise _unsupported(self.site(node), f"constant operand {arg!r}")
        if arg.name in self.up and not self._takes_copies(node, self.up[arg.name][3]):
            c, hw, out, _ = self.up[arg.name]
            raise UnsupportedLayerError(
                f"layer '{self.site(node)}' reads an adaptive pool that enlarges its input {hw} to "
                f"{out}; only flatten then Linear may follow one (the Linear's weights are summed "
                f"over the copies)")
        return self.alias.get(arg.name, arg.name)

    def _takes_copies(self, node, flat):
        """Whether `node` may read an enlarged map: a flatten, or (once flat) a Linear."""
        mod = self.mods.get(node.target) if node.op == "call_module" else None
        if flat:
            return isinstance(mod, nn.Linear)
        return (isinstance(mod, nn.Flatten) or node.target is torch.flatten
                or (node.op == "call_method" and node.target in ("flatten", "view", "reshape")))

    def add(self, node, kind, inputs, module=None, source="", name=None, **attrs):
        name = name or self.site(node)
        key = module_key(name) if module is not None else ""
        if key and key in self.modules_keys():
            raise ConversionError(f"layer '{name}': its parameter key '{key}' is taken by another "
                                  f"layer; rename one of the modules")
        if module is not None:
            self.modules[name] = module
        self.ops.append(Op(name, kind, tuple(inputs), key, _shape(node), source, attrs))
        self.alias[node.name] = name

    def modules_keys(self):
        return {module_key(k) for k in self.modules}

    def op(self, name):
        return next(op for op in self.ops if op.name == name)

    def pool(self, node, what, inp, kernel, stride, padding=0, ceil=False, dilation=1, is_max=False):
        path = self.site(node)
        kernel, padding = _pair(kernel), _pair(padding)
        if is_max and self.max_pool:
            return self.maxpool(node, what, inp, kernel, stride, padding, ceil, dilation)
        if _pair(dilation) != (1, 1) or padding[0] * 2 > kernel[0] or padding[1] * 2 > kernel[1]:
            raise UnsupportedLayerError(f"layer '{path}' ({what}): dilation 1 and padding <= kernel/2 "
                                        f"are required, not dilation={dilation}, padding={padding}")
        stride = kernel if stride is None or stride == [] else _pair(stride)
        extra = ceil_extra(_shape(node.args[0])[1:], _shape(node)[1:], kernel, stride, padding)
        if ceil and any(extra):  # windows past the padded input: see CeilAvgPool
            return self.add(node, "avgpool", [inp], CeilAvgPool(kernel, stride, padding, extra), what,
                            kernel=kernel, stride=stride, padding=padding, extra=extra)
        self.add(node, "avgpool", [inp], nn.AvgPool2d(kernel, stride, padding), what,
                 kernel=kernel, stride=stride, padding=padding)

    def maxpool(self, node, what, inp, kernel, stride, padding, ceil, dilation):
        """An exact max pool (IR MaxPool2d over the Q-ReLU's spike counts)."""
        path = self.site(node)
        if _pair(dilation) != (1, 1) or padding[0] * 2 > kernel[0] or padding[1] * 2 > kernel[1]:
            raise UnsupportedLayerError(f"layer '{path}' ({what}): dilation 1 and padding <= kernel/2 "
                                        f"are required, not dilation={dilation}, padding={padding}")
        stride = kernel if stride is None or stride == [] else _pair(stride)
        self.add(node, "maxpool", [inp], nn.MaxPool2d(kernel, stride, padding, ceil_mode=bool(ceil)),
                 what, kernel=kernel, stride=stride, padding=padding, ceil_mode=bool(ceil))

    def adaptive(self, node, what, inp, out_size):
        path = self.site(node)
        in_shape = _shape(node.args[0])
        out = _pair(out_size)
        out = tuple(in_shape[1 + i] if o is None else o for i, o in enumerate(out))
        hw = tuple(in_shape[1:])
        if all(o % i == 0 for o, i in zip(out, hw)) and out != hw:
            # enlarging: every output cell is a copy of one input cell (torchvision's VGG at
            # inputs below 224: AdaptiveAvgPool2d((7, 7)) of a 1x1 map)
            self.alias[node.name] = inp
            self.up[node.name] = (in_shape[0], hw, out, False)
            return
        if hw[0] % out[0] or hw[1] % out[1]:
            raise UnsupportedLayerError(f"layer '{path}' ({what}): input {hw} must be a multiple "
                                        f"of the output size {out} (or divide it)")
        k = (hw[0] // out[0], hw[1] // out[1])
        if k == (1, 1):
            self.alias[node.name] = inp
            return
        self.pool(node, what, inp, k, k, is_max="max" in what.lower())

    def batchnorm(self, node, mod, inp):
        path = self.site(node)
        prev = self.op(inp)
        if prev.kind not in ("conv", "linear") or len(node.args[0].users) > 1 or prev.attrs.get("bn"):
            return affine_op(self, node, mod, inp)  # folded per term by the compiler
        if self.share:  # the layer holds the model's tensors: fold into a copy
            self.modules[prev.name] = _copy(self.modules[prev.name])
        _fold_bn_(self.modules[prev.name], mod)  # our own copy of the layer
        prev.attrs["bn"] = path
        prev.source += f" + {type(mod).__name__} '{path}' fused"
        prev.shape = _shape(node)
        self.alias[node.name] = prev.name

    def qrelu(self, node, inp, what, ceiling=None):
        q = QReLU(self.levels, scale=ceiling / self.levels if ceiling else 1.0)
        q.ceiling = ceiling
        self.add(node, "qrelu", [inp], q, what)

    def module(self, node):
        mod = self.mods[node.target]
        path, what = self.site(node), type(mod).__name__
        inp = self.src(node.args[0], node)
        if isinstance(mod, nn.Conv2d):
            if _pair(mod.dilation) != (1, 1) or mod.padding_mode != "zeros" or isinstance(mod.padding, str):
                raise UnsupportedLayerError(f"layer '{path}' (Conv2d): dilation 1, zero padding "
                                            f"given as numbers are required, not dilation={mod.dilation}, "
                                            f"padding={mod.padding!r}, padding_mode={mod.padding_mode!r}")
            self.add(node, "conv", [inp], _copy(mod, self.share), what)
        elif isinstance(mod, nn.Linear):
            self.linear(node, mod, inp)
        elif isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            self.batchnorm(node, mod, inp)
        elif isinstance(mod, nn.ReLU6):
            self.qrelu(node, inp, what, ceiling=6.0)
        elif isinstance(mod, nn.ReLU):
            self.qrelu(node, inp, what)
        elif isinstance(mod, (nn.MaxPool2d, nn.AvgPool2d)):
            kw = {"dilation": mod.dilation, "is_max": True} if isinstance(mod, nn.MaxPool2d) else {}
            if isinstance(mod, nn.AvgPool2d) and not mod.count_include_pad and mod.padding:
                raise _unsupported(path, what + " with count_include_pad=False")
            self.pool(node, what, inp, mod.kernel_size, mod.stride, mod.padding, mod.ceil_mode, **kw)
        elif isinstance(mod, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            self.adaptive(node, what, inp, mod.output_size)
        elif isinstance(mod, nn.Flatten):
            self.flatten(node, what, inp, mod.start_dim, mod.end_dim)
        elif isinstance(mod, _PASS):
            self.alias[node.name] = inp
        else:
            raise _unsupported(path, what)

    def linear(self, node, mod, inp):
        """A Linear; after an enlarging adaptive pool its weight is summed over the copies."""
        if node.args[0].name in self.up:
            c, (h, w), (oh, ow), _ = self.up[node.args[0].name]
            if mod.in_features != c * oh * ow:
                raise ShapeError(f"layer '{self.site(node)}' (Linear): {mod.in_features} inputs, "
                                 f"not {c * oh * ow}")
            lin = nn.utils.skip_init(nn.Linear, c * h * w, mod.out_features, dtype=mod.weight.dtype)
            with torch.no_grad():
                wt = mod.weight.detach().reshape(-1, c, h, oh // h, w, ow // w)
                lin.weight.copy_(wt.sum(dim=(3, 5)).reshape(-1, c * h * w))
                if mod.bias is None:
                    lin.bias.zero_()
                else:
                    lin.bias.copy_(mod.bias)
        else:
            lin = _copy(mod, self.share)
        self.add(node, "linear", [inp], lin, type(mod).__name__)

    def flatten(self, node, what, inp, start=1, end=-1):
        path = self.site(node)
        in_shape = _shape(node.args[0])
        if start != 1 or end not in (-1, len(in_shape)):
            raise UnsupportedLayerError(f"layer '{path}' ({what}) must flatten dims 1..-1, "
                                        f"not {start}..{end}")
        if node.args[0].name in self.up:  # flatten the small map; the next Linear sums its copies
            c, (h, w), out, _ = self.up[node.args[0].name]
            self.add(node, "flatten", [inp], nn.Flatten(1), what)
            self.ops[-1].shape = (c * h * w,)
            self.up[node.name] = (c, (h, w), out, True)
            return
        if len(in_shape) <= 1:
            self.alias[node.name] = inp
            return
        self.add(node, "flatten", [inp], nn.Flatten(1), what)

    def function(self, node):
        if channel_rule(self, node):
            return
        f, args = node.target, node.args
        fname = getattr(f, "__name__", str(f))
        path = self.site(node)
        if f in _ADD:
            if len(args) != 2 or node.kwargs:
                raise _unsupported(path, f"{fname} with arguments {args}")
            self.add(node, "add", [self.src(a, node) for a in args], source=fname)
        elif f in _RELU:
            self.qrelu(node, self.src(args[0], node), fname)
        elif f is F.relu6:
            self.qrelu(node, self.src(args[0], node), fname, ceiling=6.0)
        elif f is torch.flatten:
            start = args[1] if len(args) > 1 else node.kwargs.get("start_dim", 0)
            end = args[2] if len(args) > 2 else node.kwargs.get("end_dim", -1)
            self.flatten(node, "torch.flatten", self.src(args[0], node), start, end)
        elif f in (F.max_pool2d, F.avg_pool2d):
            kw = dict(zip(("kernel", "stride", "padding"), args[1:]), **node.kwargs)
            self.pool(node, fname, self.src(args[0], node), kw.get("kernel", kw.get("kernel_size")),
                      kw.get("stride"), kw.get("padding", 0), kw.get("ceil_mode", False),
                      kw.get("dilation", 1), is_max=f is F.max_pool2d)
        elif f in (F.adaptive_avg_pool2d, F.adaptive_max_pool2d):
            self.adaptive(node, fname, self.src(args[0], node),
                          args[1] if len(args) > 1 else node.kwargs["output_size"])
        else:
            raise _unsupported(path, f"function {fname}")

    def method(self, node):
        m, args = node.target, node.args
        if m == "size" or channel_rule(self, node):
            return  # a size only feeds view/reshape arguments
        path = self.site(node)
        if m == "relu":
            self.qrelu(node, self.src(args[0], node), "Tensor.relu")
        elif m == "flatten":
            start = args[1] if len(args) > 1 else node.kwargs.get("start_dim", 0)
            self.flatten(node, "Tensor.flatten", self.src(args[0], node), start)
        elif m in ("view", "reshape") and len(_shape(node)) == 1:
            self.flatten(node, f"Tensor.{m}", self.src(args[0], node))
        else:
            raise _unsupported(path, f"method Tensor.{m}")

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


def convert(model, input_shape, levels=8, calib=None, name=None, share_weights=False, pool="max"):
    """QANN of float `model` for inputs of shape `input_shape` (C, H, W) or (N,).

    `levels` is n of every Q-ReLU. `calib` (a float batch) sets each Q-ReLU's initial step s to
    the 99.9th percentile of its input over n (else s = 1). Raises UnsupportedLayerError naming
    the module path of a layer without a conversion rule, TraceError if fx cannot trace.
    `share_weights=True`: layers with no BatchNorm folded in keep `model`'s own weight tensors
    (no copy: a VGG-16 converts in 0.5 GB less memory); training the QANN then changes `model`.
    `pool="max"` (default): max pools stay exact max pools (IR MaxPool2d); `pool="avg"`: they
    become average pools, as the SpikeZIP paper does (costs accuracy).
    """
    if pool not in ("max", "avg"):
        raise ConversionError(f"pool must be 'max' or 'avg', not {pool!r}")
    if int(levels) != levels or not 1 <= levels <= 1 << 15:
        raise ConversionError(f"levels must be an integer in [1, 32768], not {levels!r}")
    was_training = model.training
    model.eval()
    try:
        gm = trace(model, input_shape)
        ops, modules = _Builder(gm, int(levels), bool(share_weights), pool).build()
    finally:
        model.train(was_training)
    qann = QANN(ops, modules, levels, input_shape, name or type(model).__name__)
    qann.pool = pool
    dtype = next((p.dtype for p in model.parameters()), torch.float32)
    qann.to(dtype)
    qann.eval()
    if calib is not None:
        from ._finetune import calibrate
        calibrate(qann, calib)
    return qann
