"""Compile time of a VGG-16-shaped network (3x32x32 input, 13 conv + BN + ReLU, 5 max pools,
3 FC layers, random weights): convert + compile, with each pass timed. Target: under 10 s.

    .venv/bin/python benchmarks/compile_vgg16.py
"""

import time

import torch
from torch import nn

from hwsnn.compile import PASSES, Options
from hwsnn.compile._state import Lowering
from hwsnn.convert import calibrate, convert

CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def vgg16(n_classes=10):
    layers, c = [], 3
    for v in CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU()]
            c = v
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(512, 4096), nn.ReLU(), nn.Dropout(),
                         nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(), nn.Linear(4096, n_classes))


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = vgg16().eval()
    n_params = sum(p.numel() for p in model.parameters())
    t0 = time.perf_counter()
    qann = convert(model, (3, 32, 32), levels=8)
    t_convert = time.perf_counter() - t0
    t0 = time.perf_counter()
    calibrate(qann, torch.rand(8, 3, 32, 32))
    t_calib = time.perf_counter() - t0
    st = Lowering(qann, Options(input_scale=1 / 255, input_range=(0, 255), w_bits=8))
    times = {}
    for name, fn in PASSES:
        t0 = time.perf_counter()
        st = fn(st)
        st.log.append(name)
        times[name] = time.perf_counter() - t0
    total = sum(times.values())
    print(f"VGG-16 shape, {n_params / 1e6:.1f} M parameters, {len(st.graph.nodes)} IR nodes")
    print(f"convert (trace, fuse BN, Q-ReLU): {t_convert:.2f} s; calibrate (8 images): {t_calib:.2f} s")
    for name, t in times.items():
        print(f"  pass {name:15s} {t:7.3f} s  ({100 * t / total:4.1f}%)")
    print(f"compile (all passes): {total:.2f} s; convert + compile: {t_convert + total:.2f} s "
          f"(target < 10 s: {'met' if t_convert + total < 10 else 'NOT met'})")
    vb = {n: st.graph.nodes[n].v_bits for n in st.graph.meta["layers"]}
    print(f"v_bits chosen by range analysis: min {min(vb.values())}, max {max(vb.values())}")


if __name__ == "__main__":
    main()
