"""`hwsnn rtl emit|synth NET.hwir`: Verilog + memory images of the RTL network; synthesis report."""

import json

import typer

from .. import ir

__all__ = ["register"]

rtl_app = typer.Typer(no_args_is_help=True, help="RTL back end: Verilog emission and synthesis.")
PACK_HELP = "one weight memory and one S memory per core for all lanes (fewer RAM blocks)"


@rtl_app.command("emit")
def emit_cmd(path: str = typer.Argument(..., help="IR file (.hwir)"),
             out: str = typer.Option(..., "-o", "--out", help="output folder"),
             lanes: int = typer.Option(1, "--lanes", help="SOP lanes per core"),
             pack_lanes: bool = typer.Option(False, "--pack-lanes", help=PACK_HELP),
             cores: bool = typer.Option(True, "--cores/--no-cores", help="also write each core alone")):
    """Write the network's Verilog, each core's Verilog, memory images (.hex) and a manifest."""
    from hwsnn.mappings.rtl import lower
    from hwsnn.rtl import emit_network
    net = lower(ir.load(path), lanes=lanes, pack_lanes=pack_lanes)
    _print_layouts(net)
    for p in emit_network(net, out, cores=cores):
        print(p)


def _print_layouts(net):
    """One line per core: its layout, shared-kernel or dense, and why it is dense."""
    for k, row in enumerate(net.summary()):
        why = f" ({row['layout_reason']})" if row["layout"] == "dense" and row.get("layout_reason") else ""
        print(f"core {k} '{row['node']}': {row['layout']} layout{why}")


@rtl_app.command("synth")
def synth_cmd(path: str = typer.Argument(..., help="IR file (.hwir)"),
              target: str = typer.Option("ice40-up5k", "--target", help="ice40-up5k or ecp5-85k"),
              lanes: int = typer.Option(1, "--lanes", help="SOP lanes per core"),
              pack_lanes: bool = typer.Option(False, "--pack-lanes", help=PACK_HELP),
              per_core: bool = typer.Option(True, "--per-core/--total-only", help="also each core alone"),
              as_json: bool = typer.Option(False, "--json", help="print JSON")):
    """yosys + nextpnr: LUTs, FFs, RAM blocks and Fmax per core and for the whole network."""
    from hwsnn.errors import MappingError
    from hwsnn.mappings.rtl import lower
    from hwsnn.rtl._synth import synth_core, synth_network
    graph = ir.load(path)
    net = lower(graph, lanes=lanes, pack_lanes=pack_lanes)
    _check_fit_or_suggest(graph, net, target)
    rows = []
    if per_core:
        for cfg in net.cores:
            try:
                rows.append(synth_core(cfg, target).to_dict())
            except MappingError as exc:
                rows.append({"design": f"core {cfg.name}", "target": target, "error": str(exc)})
    total = synth_network(net.cores, target)  # raises (one line, exit 1) if it does not fit
    rows.append(total.to_dict())
    if as_json:
        print(json.dumps({"cores": net.summary(), "synth": rows}, indent=1, default=_plain))
        return
    _print_layouts(net)
    for r in rows:
        if "error" in r:
            print(f"{r['design']}: {r['error']}")
            continue
        c = r["cells"]
        print(f"{r['design']:<32} LUT {c['LUT']:>6}  FF {c['FF']:>6}  RAM {c['RAM']:>4}  "
              f"DSP {c['DSP']:>3}  Fmax {r['fmax_mhz']} MHz  ({target})")


def _check_fit_or_suggest(graph, net, target):
    """The RAM fit check before yosys; when it fails, the message adds the lane / packing
    settings that fit, the best first (or that none from 1 to 16 lanes does)."""
    from hwsnn.errors import MappingError
    from hwsnn.mappings.rtl import lower
    from hwsnn.rtl._synth import check_fit, fit_settings, setting_flags
    try:
        check_fit(net.cores, target, f"network of {len(net.cores)} cores")
    except MappingError as exc:
        rows, best = fit_settings(lambda L, p: lower(graph, lanes=L, pack_lanes=p).cores, target)
        fits = sorted((r for r in rows if r["fits"]), key=lambda r: (-r["lanes"], r["pack_lanes"]))
        one = min(r["ram_blocks"] for r in rows if r["lanes"] == 1)
        hint = (f"; settings that fit: {', '.join(setting_flags(r) for r in fits)}" if fits else
                f"; no setting from 1 to 16 lanes fits (1 lane: about {one} RAM blocks)")
        raise MappingError(str(exc) + hint) from None


def _plain(obj):
    return obj.tolist() if hasattr(obj, "tolist") else str(obj)


def register(app):
    app.add_typer(rtl_app, name="rtl")
