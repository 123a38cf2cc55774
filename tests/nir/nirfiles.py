"""Write NIR files with h5py in nir.write's layout (no `nir` import): `version`, `node/type`,
`node/nodes/<name>/<key>`, `node/edges`; and a small valid graph to start from."""

import h5py
import numpy as np

__all__ = ["write_nir", "small_graph", "conv_graph"]


def write_nir(path, nodes, edges, version="1.0.8"):
    with h5py.File(path, "w") as f:
        f.create_dataset("version", data=version, dtype=h5py.string_dtype())
        root = f.create_group("node")
        root.create_dataset("type", data="NIRGraph", dtype=h5py.string_dtype())
        group = root.create_group("nodes")
        for name, params in nodes.items():
            g = group.create_group(name)
            for key, value in params.items():
                if isinstance(value, dict):   # e.g. Flatten's input_type {"input": shape}
                    sub = g.create_group(key)
                    for k, v in value.items():
                        sub.create_dataset(k, data=np.asarray(v))
                elif isinstance(value, str):
                    g.create_dataset(key, data=value, dtype=h5py.string_dtype())
                else:
                    g.create_dataset(key, data=np.asarray(value))
        root.create_dataset("edges", data=np.array(edges, dtype=object).reshape(-1, 2),
                            dtype=h5py.string_dtype())
    return path


def small_graph(seed=0, n_in=6, n_hidden=5, n_out=3):
    """Input -> Affine -> LIF -> Linear -> CubaLIF -> Output, float parameters (dt = 1e-3)."""
    rng = np.random.default_rng(seed)
    ones = np.ones
    nodes = {
        "input": {"type": "Input", "shape": np.array([n_in])},
        "fc1": {"type": "Affine", "weight": rng.normal(0, 0.5, (n_hidden, n_in)),
                "bias": rng.normal(0, 0.05, n_hidden)},
        "lif1": {"type": "LIF", "tau": 0.01 * ones(n_hidden), "r": 10 * ones(n_hidden),
                 "v_leak": np.zeros(n_hidden), "v_threshold": rng.uniform(0.5, 1.5, n_hidden),
                 "v_reset": np.zeros(n_hidden)},
        "fc2": {"type": "Linear", "weight": rng.normal(0, 0.5, (n_out, n_hidden))},
        "lif2": {"type": "CubaLIF", "tau_syn": 0.005 * ones(n_out), "tau_mem": 0.02 * ones(n_out),
                 "r": 20 * ones(n_out), "v_leak": np.zeros(n_out), "v_threshold": ones(n_out),
                 "v_reset": np.zeros(n_out), "w_in": 5 * ones(n_out)},
        "output": {"type": "Output", "shape": np.array([n_out])},
    }
    edges = [("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"), ("lif2", "output")]
    return nodes, edges


def conv_graph(seed=0):
    """Input (2, 6, 6) -> SumPool2d 2 -> Conv2d 3x3 pad 1 (bias) -> LIF -> Flatten -> Affine ->
    IF -> AvgPool-free Linear -> LI without leak (tau 1e9 s) -> Output; dt = 1e-3."""
    rng = np.random.default_rng(seed)
    c, n_hidden, n_out = 4, 7, 3
    flat = c * 3 * 3
    return {
        "input": {"type": "Input", "shape": np.array([2, 6, 6])},
        "pool": {"type": "SumPool2d", "kernel_size": np.array([2, 2]), "stride": np.array([2, 2]),
                 "padding": np.array([0, 0])},
        "conv": {"type": "Conv2d", "weight": rng.normal(0, 0.4, (c, 2, 3, 3)),
                 "bias": rng.normal(0, 0.05, c), "stride": np.array([1, 1]),
                 "padding": np.array([1, 1]), "dilation": np.array([1, 1]), "groups": np.array(1),
                 "input_shape": np.array([3, 3])},
        "lif": {"type": "LIF", "tau": np.full((c, 3, 3), 0.004), "r": np.full((c, 3, 3), 4.0),
                "v_leak": np.zeros((c, 3, 3)), "v_threshold": np.ones((c, 3, 3)),
                "v_reset": np.zeros((c, 3, 3))},
        "flat": {"type": "Flatten", "start_dim": np.array(0), "end_dim": np.array(-1),
                 "input_type": {"input": np.array([c, 3, 3])}},
        "fc": {"type": "Affine", "weight": rng.normal(0, 0.3, (n_hidden, flat)),
               "bias": rng.normal(0, 0.02, n_hidden)},
        "if": {"type": "IF", "r": np.full(n_hidden, 1000.0), "v_threshold": np.full(n_hidden, 0.8),
               "v_reset": np.zeros(n_hidden)},
        "fc_out": {"type": "Linear", "weight": rng.normal(0, 0.5, (n_out, n_hidden))},
        "li": {"type": "LI", "tau": np.full(n_out, 1e9), "r": np.full(n_out, 1e9 / 1e-3),
               "v_leak": np.zeros(n_out)},
        "output": {"type": "Output", "shape": np.array([n_out])},
    }, [("input", "pool"), ("pool", "conv"), ("conv", "lif"), ("lif", "flat"), ("flat", "fc"),
        ("fc", "if"), ("if", "fc_out"), ("fc_out", "li"), ("li", "output")]
