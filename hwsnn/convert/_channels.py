"""Conversion rules for channel operations: `torch.cat` on channels, channel maps (chunk, split,
slicing, ShuffleNet's view/transpose/view shuffle), spatial means, BatchNorm that cannot fold
into a layer before it, and average pools with `ceil_mode`.

Channel maps are found numerically, not by pattern: a chain of layout ops (view, reshape,
transpose, permute, contiguous, flatten, chunk, split, getitem) that starts at a tensor
(C, *rest) and ends at a tensor (C', *rest) is run on a tensor of position ids; if every output
channel j is a whole input channel idx[j], the chain is the channel map `idx`, else an error.
"""

import operator

import torch
import torch.nn.functional as F
from torch import fx, nn

from ..errors import UnsupportedLayerError
from ._qann import Op, module_key

__all__ = ["ChannelMap", "ChannelAffine", "CeilAvgPool", "channel_rule", "affine_op", "ceil_extra"]

LAYOUT_METHODS = ("view", "reshape", "transpose", "permute", "contiguous", "flatten", "chunk",
                  "split", "unflatten", "squeeze", "unsqueeze")
LAYOUT_FUNCTIONS = (torch.transpose, torch.permute, torch.reshape, torch.flatten, torch.chunk,
                    torch.split, operator.getitem)


class ChannelMap(nn.Module):
    """out[:, j] = in[:, index[j]] (a channel selection or permutation)."""

    def __init__(self, index):
        super().__init__()
        self.register_buffer("index", torch.as_tensor(index, dtype=torch.long), persistent=False)

    def forward(self, x):
        return x.index_select(1, self.index)


class ChannelAffine(nn.Module):
    """Eval-mode BatchNorm as a frozen per-channel affine map: out = k * in + b."""

    def __init__(self, bn):
        super().__init__()
        k = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
        b = bn.bias.detach().double() - bn.running_mean.double() * k
        self.register_buffer("k", k.float())
        self.register_buffer("b", b.float())

    def view(self, t, ndim):
        return t.reshape(-1, *([1] * (ndim - 2)))

    def forward(self, x):
        return x * self.view(self.k, x.ndim) + self.view(self.b, x.ndim)


class CeilAvgPool(nn.Module):
    """Average pool over ceil_mode windows: zero padding `padding` on every side plus `extra`
    rows / columns at the bottom / right, every window divided by kh*kw (the windows torch's
    ceil_mode makes; a window that spills past the padded input counts the spill as zeros)."""

    def __init__(self, kernel, stride, padding, extra):
        super().__init__()
        self.kernel, self.stride, self.padding, self.extra = kernel, stride, padding, extra

    def forward(self, x):
        (ph, pw), (eh, ew) = self.padding, self.extra
        return F.avg_pool2d(F.pad(x, (pw, pw + ew, ph, ph + eh)), self.kernel, self.stride)

    def extra_repr(self):
        return f"kernel={self.kernel}, stride={self.stride}, padding={self.padding}, extra={self.extra}"


def ceil_extra(in_hw, out_hw, kernel, stride, padding):
    """Rows / columns of zeros past the bottom / right padding that ceil_mode windows read."""
    return tuple(max(0, (o - 1) * s + k - (n + 2 * p))
                 for n, o, k, s, p in zip(in_hw, out_hw, kernel, stride, padding))


def affine_op(builder, node, mod, inp):
    """A BatchNorm that cannot fold into a layer before it: a per-channel affine op (the
    compiler folds it into each weighted layer that feeds it, or into a Scale synapse)."""
    builder.add(node, "affine", [inp], ChannelAffine(mod), type(mod).__name__ + " (kept as affine)")


def _const(builder, arg, user):
    """Value of a non-tensor fx node (a size, an int computed from sizes) recorded by the trace."""
    if isinstance(arg, fx.Node):
        if "hwsnn_const" not in arg.meta:
            raise UnsupportedLayerError(f"layer '{builder.site(user)}': argument '{arg.name}' is a "
                                        f"tensor where a constant was expected")
        return arg.meta["hwsnn_const"]
    if isinstance(arg, (list, tuple)):
        return type(arg)(_const(builder, a, user) for a in arg)
    return arg


def _run_chain(builder, chain, x):
    """Apply the layout fx nodes `chain` to tensor `x` (the first node reads x)."""
    for i, node in enumerate(chain):
        prev = chain[i - 1] if i else None
        args = [x if (a is prev or (i == 0 and a is node.args[0])) else _const(builder, a, node)
                for a in node.args]
        kwargs = {k: _const(builder, v, node) for k, v in node.kwargs.items()}
        if node.op == "call_method":
            x = getattr(args[0], node.target)(*args[1:], **kwargs)
        else:
            x = node.target(*args, **kwargs)
    return x


def _channel_index(builder, base, chain, node):
    """The channel map idx (list) of layout chain `chain` from fx node `base`, or an error."""
    shape_in, shape_out = tuple(base.meta["hwsnn_shape"]), tuple(node.meta["hwsnn_shape"])
    rest = shape_in[1:]
    if shape_out[1:] != rest:
        raise UnsupportedLayerError(
            f"layer '{builder.site(node)}': a reshape from {shape_in} to {shape_out} is only "
            f"supported as a channel selection or shuffle that keeps the other axes")
    per = 1
    for d in rest:
        per *= d
    ids = torch.arange(shape_in[0] * per, dtype=torch.float64).reshape(1, *shape_in)
    with torch.no_grad():
        out = _run_chain(builder, chain, ids)[0]
    idx = torch.div(out.reshape(shape_out[0], -1)[:, 0], per, rounding_mode="floor").long()
    want = (idx.reshape(-1, *([1] * len(rest))) * per
            + torch.arange(per, dtype=torch.long).reshape(rest)).double()
    if not torch.equal(out, want):
        raise UnsupportedLayerError(
            f"layer '{builder.site(node)}': this reshape mixes channels with other axes; only "
            f"channel selections and shuffles (out channel j = one whole input channel) convert")
    return idx.tolist()


def _layout(builder, node, what):
    """A layout op: extend the pending chain, and close it into a channel map (or an alias)
    when the result is a tensor of the base's rank."""
    arg = node.args[0]
    if arg.name in builder.layout:
        base, chain = builder.layout[arg.name]
        chain = chain + [node]
    else:
        base, chain = arg, [node]
    shape = node.meta.get("hwsnn_shape")
    if shape is None or len(shape) != len(base.meta["hwsnn_shape"]):
        builder.layout[node.name] = (base, chain)  # a 5-D view, a tuple of chunks, ...
        return True
    inp = builder.src(base, node)
    idx = _channel_index(builder, base, chain, node)
    if idx == list(range(base.meta["hwsnn_shape"][0])):
        builder.alias[node.name] = inp
    else:
        builder.add(node, "channels", [inp], ChannelMap(idx), what, index=tuple(idx))
    return True


def _cat(builder, node):
    tensors = node.args[0] if node.args else node.kwargs["tensors"]
    dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
    ndim = len(node.meta["hwsnn_shape"]) + 1
    if dim % ndim != 1:
        raise UnsupportedLayerError(f"layer '{builder.site(node)}' (torch.cat): only channel "
                                    f"concatenation (dim=1) converts, not dim={dim}")
    inputs = [builder.src(t, node) for t in tensors]
    builder.add(node, "cat", inputs, source="torch.cat")
    return True


def _mean(builder, node, what):
    """Mean over the spatial axes (MnasNet's x.mean([2, 3])): an average pool over the whole
    map, then a flatten unless keepdim."""
    dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
    keep = node.args[2] if len(node.args) > 2 else node.kwargs.get("keepdim", False)
    shape = node.args[0].meta.get("hwsnn_shape", ())
    dims = sorted(d % 4 for d in (dims if isinstance(dims, (list, tuple)) else [dims])) \
        if dims is not None else None
    if len(shape) != 3 or dims != [2, 3]:
        raise UnsupportedLayerError(f"layer '{builder.site(node)}' ({what}): only a mean over the "
                                    f"two spatial axes of a (C, H, W) map converts, not dim={dims}")
    path, inp = builder.site(node), builder.src(node.args[0], node)
    c, h, w = shape
    if (h, w) != (1, 1):
        key = module_key(path)
        builder.modules[path] = nn.AvgPool2d((h, w), (h, w))
        builder.ops.append(Op(path, "avgpool", (inp,), key, (c, 1, 1), what,
                              {"kernel": (h, w), "stride": (h, w), "padding": (0, 0)}))
        inp = path
    if keep:
        builder.alias[node.name] = inp
        return True
    name = path + ".flatten" if (h, w) != (1, 1) else path
    builder.taken.add(name)
    builder.modules[name] = nn.Flatten(1)
    builder.ops.append(Op(name, "flatten", (inp,), module_key(name), (c,), what, {}))
    builder.alias[node.name] = name
    return True


def channel_rule(builder, node):
    """Apply a channel rule to fx `node` if one fits; True when the node was handled."""
    if "hwsnn_const" in node.meta:
        return True  # a size or an int computed from sizes: only feeds layout arguments
    f = node.target
    if node.op == "call_function":
        if f is torch.cat:
            return _cat(builder, node)
        if f is torch.mean:
            return _mean(builder, node, "torch.mean")
        if f in LAYOUT_FUNCTIONS and isinstance(node.args[0], fx.Node):
            if f is torch.flatten and node.args[0].name not in builder.layout \
                    and len(node.meta.get("hwsnn_shape", ())) == 1:
                return False  # a plain flatten to (batch, -1)
            return _layout(builder, node, getattr(f, "__name__", str(f)))
        return False
    if node.op == "call_method":
        if f == "mean":
            return _mean(builder, node, "Tensor.mean")
        if f in LAYOUT_METHODS:
            if f in ("view", "reshape", "flatten") and node.args[0].name not in builder.layout \
                    and len(node.meta.get("hwsnn_shape", ())) == 1:
                return False  # a plain flatten to (batch, -1)
            return _layout(builder, node, f"Tensor.{f}")
    return False
