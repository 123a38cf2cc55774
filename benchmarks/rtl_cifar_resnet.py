"""A CIFAR-shaped ResNet through the whole hardware flow (issue 11 item 4).

3x32x32 input, stem conv 3->8, three residual stages (BasicBlock 8, 8->16 stride 2, 16->32
stride 2, the strided 1x1-conv shortcut as a shared-kernel table), average pool, linear 32->10;
random (seeded) weights, calibrated on random images. hwsnn.convert -> hwsnn.compile ->
hwsnn.mappings.rtl.lower -> RTL simulation (every V, S, y at every step against the golden
simulator) -> RAM estimate per lane setting for ECP5-85K -> `synth_network` (yosys + nextpnr)
at the fitting setting with the most lanes (lanes, and whether the weight and S memories are
packed across lanes) -> SOP/s from the simulated cycle counts at that Fmax.

    python benchmarks/rtl_cifar_resnet.py [--samples 10] [--sim verilator] [--lanes 8]
                                          [--synth [--no-pnr]] [--skip-rtl] [--out build/cifar]

Prints a JSON report (also written to OUT/report.json).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hwsnn import backends, ir, sim
from hwsnn.compile import compile_qann
from hwsnn.convert import convert
from hwsnn.errors import MappingError
from hwsnn.examples import BasicBlock

SCALE, RANGE = 1 / 16, (0, 16)


class CifarResNet(nn.Module):
    """conv(3->8) -> BasicBlock(8) -> BasicBlock(8->16, /2) -> BasicBlock(16->32, /2) -> avgpool -> fc."""

    def __init__(self, widths=(8, 16, 32), classes=10):
        super().__init__()
        a, b, c = widths
        self.conv1 = nn.Conv2d(3, a, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(a)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = BasicBlock(a, a)
        self.layer2 = BasicBlock(a, b, stride=2)
        self.layer3 = BasicBlock(b, c, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def images(n, seed):
    """Smooth random 3x32x32 integer images in 0..16 (CIFAR-shaped stand-ins)."""
    rng = np.random.default_rng(seed)
    low = rng.random((n, 3, 8, 8))
    up = np.kron(low, np.ones((1, 1, 4, 4)))
    noise = rng.random((n, 3, 32, 32)) * 0.3
    return np.clip(np.rint((up * 0.8 + noise) * 16), 0, 16).astype(np.int64)


def build_graph(seed=0, levels=4):
    torch.manual_seed(seed)
    model = CifarResNet().eval()
    with torch.no_grad():  # non-trivial BN statistics, so the fused weights are not all alike
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(0.0, 0.3)
    calib = torch.as_tensor(images(64, seed + 100) * SCALE, dtype=torch.float32)
    qann = convert(model, (3, 32, 32), levels=levels, calib=calib)
    return compile_qann(qann, input_scale=SCALE, input_range=RANGE, w_bits=8, name="cifar-resnet")


def fit_lanes(g, target):
    """[{lanes, pack_lanes, ram_blocks, capacity, fits}] for each setting (RAM estimate, no
    yosys), and the best that fits (most lanes; see `hwsnn.rtl._synth.fit_settings`)."""
    from hwsnn.mappings.rtl import lower
    from hwsnn.rtl._synth import fit_settings
    return fit_settings(lambda L, p: lower(g, lanes=L, pack_lanes=p).cores, target)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=10)
    p.add_argument("--sim", default=os.environ.get("SIM", "verilator"))
    p.add_argument("--lanes", type=int, default=8, help="lanes for the RTL simulation")
    p.add_argument("--pack-lanes", action=argparse.BooleanOptionalAction, default=True,
                   help="the RTL simulation packs each core's weight and S memories across lanes")
    p.add_argument("--steps", type=int, default=0, help="0: the golden run's equilibrium + 1")
    p.add_argument("--synth", action="store_true", help="run yosys + nextpnr (slow)")
    p.add_argument("--no-pnr", action="store_true", help="with --synth: yosys only (cell counts, no Fmax)")
    p.add_argument("--skip-rtl", action="store_true", help="no RTL simulation (fit and synthesis only)")
    p.add_argument("--target", default="ecp5-85k")
    p.add_argument("--out", default="build/cifar-resnet")
    a = p.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    from hwsnn.mappings.rtl import lower, run
    from hwsnn.mappings.rtl._run import run_lowered
    report = {"network": "cifar-resnet 3x32x32, 8-16-32, BasicBlocks, 1x1/2 shortcuts", "samples": a.samples}
    t0 = time.time()
    g = build_graph()
    ir.save(g, out / "cifar_resnet.hwir")
    x = images(a.samples, 1)
    steps = a.steps
    if not steps:
        t_eq = sim.run(g.with_delays(1), x, 60, record=False).t_eq
        steps = int(t_eq.max()) + 1
    report["steps"] = steps
    net = lower(g, lanes=a.lanes, pack_lanes=a.pack_lanes)
    report["cores"] = [{k: s[k] for k in ("node", "neurons", "tables", "sources", "layout", "lanes", "weight_words")}
                       for s in net.summary()]
    report["neurons"] = int(sum(c.n for c in net.cores))
    report["build_s"] = round(time.time() - t0, 1)

    cmp = None
    if not a.skip_rtl:
        t1 = time.time()
        trace = run_lowered(net, x, steps, sim=a.sim)
        golden = sim.run(trace.graph, x, steps)
        cmp = backends.compare(golden, trace, "rtl")
        report["rtl"] = {"sim": a.sim, "lanes": a.lanes, "pack_lanes": a.pack_lanes,
                         "wall_s": round(time.time() - t1, 1),
                         "compared_values": cmp.compared_values, "mismatches": cmp.mismatches,
                         "first_divergence": None if cmp.first is None else str(cmp.first),
                         "predictions_equal": bool(np.array_equal(trace.predict(), golden.predict())),
                         "cycles": trace.rtl["cycles"], "cycles_per_step": trace.rtl["cycles_per_step"],
                         "sops": trace.rtl["sops"], "sops_per_cycle": trace.rtl["sops_per_cycle"]}
        print(json.dumps({"rtl": report["rtl"]}), flush=True)
    rows, best = fit_lanes(g, a.target)
    report["fit"] = {"target": a.target, "settings": rows, "best_fitting": best}
    if best is None:
        try:
            from hwsnn.rtl._synth import check_fit
            check_fit(lower(g, lanes=1).cores, a.target, "cifar-resnet")
        except MappingError as exc:
            report["fit"]["message"] = str(exc)
    if a.synth and best is not None:
        from hwsnn.rtl._synth import synth_network
        L, pack = best["lanes"], best["pack_lanes"]
        t2 = time.time()
        try:
            rep = synth_network(lower(g, lanes=L, pack_lanes=pack).cores, a.target, work_dir=out / f"synth-{L}-p{int(pack)}",
                                pnr=not a.no_pnr)
            report["synth"] = {**rep.to_dict(), "lanes": L, "pack_lanes": pack, "wall_s": round(time.time() - t2, 1)}
            if "rtl" in report and L == a.lanes:  # packing changes no timing (tests/rtl/test_memory_layout.py)
                spc = report["rtl"]["sops_per_cycle"]
            else:  # SOPs per cycle at the fitting lanes, simulated
                spc = run(g, x[:2], steps, sim=a.sim, lanes=L).rtl["sops_per_cycle"]
            report["synth"]["sops_per_cycle"] = spc
            if rep.fmax_mhz:
                report["synth"]["sop_per_s"] = spc * rep.fmax_mhz * 1e6
        except MappingError as exc:
            report["synth"] = {"lanes": L, "pack_lanes": pack, "error": str(exc)}
    (out / "report.json").write_text(json.dumps(report, indent=1, default=str))
    print(json.dumps(report, indent=1, default=str))
    return 0 if cmp is None or cmp.mismatches == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
