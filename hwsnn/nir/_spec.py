"""What each NIR node type must hold, and its checks: keys, dimensions, finite values.

`check_node(name, raw)` turns the reader's {"type", key: array} into {"type", key: value} with
the defaults NIR gives (v_reset = 0, w_in = 1), or raises NIRError naming the node and key.
"""

import numpy as np

from ..errors import NIRError

__all__ = ["check_node", "SYNAPSE_TYPES", "NEURON_TYPES", "READOUT_TYPES", "SUPPORTED"]

# key: (ndim allowed, integer?)  -- ndim None: any up to the reader's limit
_F1, _F2, _F4, _FN = ((1,), False), ((2,), False), ((4,), False), (None, False)
_I1, _I01 = ((1,), True), ((0, 1), True)

SPECS = {
    "Input": {"shape": _I1},
    "Output": {"shape": _I1},
    "Affine": {"weight": _F2, "bias": _F1},
    "Linear": {"weight": _F2},
    "Conv2d": {"weight": _F4, "bias": _F1, "stride": _I01, "padding": _I01, "dilation": _I01,
               "groups": _I01},
    "SumPool2d": {"kernel_size": _I01, "stride": _I01, "padding": _I01},
    "AvgPool2d": {"kernel_size": _I01, "stride": _I01, "padding": _I01},
    "Flatten": {"start_dim": _I01, "end_dim": _I01},
    "Scale": {"scale": _FN},
    "LIF": {"tau": _FN, "r": _FN, "v_leak": _FN, "v_threshold": _FN},
    "CubaLIF": {"tau_syn": _FN, "tau_mem": _FN, "r": _FN, "v_leak": _FN, "v_threshold": _FN},
    "IF": {"r": _FN, "v_threshold": _FN},
    "LI": {"tau": _FN, "r": _FN, "v_leak": _FN},
    "CubaLI": {"tau_syn": _FN, "tau_mem": _FN, "r": _FN, "v_leak": _FN},
}
OPTIONAL = {"v_reset": _FN, "w_in": _FN, "input_shape": _I1, "input_type": _I1}
SYNAPSE_TYPES = ("Affine", "Linear", "Conv2d", "SumPool2d", "AvgPool2d", "Flatten", "Scale")
NEURON_TYPES = ("LIF", "CubaLIF", "IF")
READOUT_TYPES = ("LI", "CubaLI")
SUPPORTED = tuple(SPECS)


def _fail(name, msg):
    raise NIRError(f"NIR node {name!r}: {msg}")


def _value(name, kind, key, value, spec):
    ndims, integer = spec
    if isinstance(value, str):
        _fail(name, f"{kind}.{key} must be numbers, not the string {value[:40]!r}")
    arr = np.asarray(value)
    if ndims is not None and arr.ndim not in ndims:
        _fail(name, f"{kind}.{key} must have {' or '.join(map(str, ndims))} dimensions, not "
                    f"shape {arr.shape}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        _fail(name, f"{kind}.{key} must be finite, not NaN or infinite")
    if integer:
        if arr.dtype.kind == "f" and not np.all(arr == np.round(arr)):
            _fail(name, f"{kind}.{key} must be integers, not {arr.tolist()[:4]}")
        if arr.size and (arr.min() < -(1 << 31) or arr.max() >= 1 << 31):
            _fail(name, f"{kind}.{key} must fit 32 bits, not values up to {arr.max()}")
        return arr.astype(np.int64)
    return arr.astype(np.float64)


def check_node(name, raw):
    """Validated {"type", key: array} of one NIR node (defaults filled in)."""
    kind = raw.get("type")
    if kind not in SPECS:
        _fail(name, f"type {kind!r} is not supported (supported: {', '.join(SUPPORTED)})")
    node = {"type": kind}
    for key, spec in SPECS[kind].items():
        if key not in raw:
            _fail(name, f"{kind} needs key {key!r}, which is missing")
        node[key] = _value(name, kind, key, raw[key], spec)
    for key, spec in OPTIONAL.items():
        if key in raw:
            node[key] = _value(name, kind, key, raw[key], spec)
    if kind in NEURON_TYPES + READOUT_TYPES:
        first = "tau_mem" if "tau_mem" in node else ("tau" if "tau" in node else "r")
        shape = node[first].shape
        node.setdefault("v_reset", np.zeros(shape))
        node.setdefault("w_in", np.ones(shape))
        for key in SPECS[kind].keys() | {"v_reset", "w_in"}:
            if key in node and node[key].shape != shape and node[key].size != 1:
                _fail(name, f"{kind}.{key} has shape {node[key].shape}, {first} has {shape}")
    for key in ("shape", "input_shape"):
        if key in node and (node[key].size == 0 or node[key].min() < 1 or
                            int(np.prod(node[key], dtype=np.float64)) > 1 << 24):
            _fail(name, f"{kind}.{key} must be positive sizes of at most 2^24 values, not "
                        f"{node[key].tolist()[:6]}")
    return node
