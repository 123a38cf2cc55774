"""`hwsnn rtl emit|synth NET.hwir`: Verilog + memory images of the RTL network; synthesis report."""

import json

import typer

from .. import ir

__all__ = ["register"]

rtl_app = typer.Typer(no_args_is_help=True, help="RTL back end: Verilog emission and synthesis.")


@rtl_app.command("emit")
def emit_cmd(path: str = typer.Argument(..., help="IR file (.hwir)"),
             out: str = typer.Option(..., "-o", "--out", help="output folder"),
             lanes: int = typer.Option(1, "--lanes", help="SOP lanes per core"),
             cores: bool = typer.Option(True, "--cores/--no-cores", help="also write each core alone")):
    """Write the network's Verilog, each core's Verilog, memory images (.hex) and a manifest."""
    from hwsnn.mappings.rtl import lower
    from hwsnn.rtl import emit_network
    net = lower(ir.load(path), lanes=lanes)
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
              per_core: bool = typer.Option(True, "--per-core/--total-only", help="also each core alone"),
              as_json: bool = typer.Option(False, "--json", help="print JSON")):
    """yosys + nextpnr: LUTs, FFs, RAM blocks and Fmax per core and for the whole network."""
    from hwsnn.errors import MappingError
    from hwsnn.mappings.rtl import lower
    from hwsnn.rtl._synth import synth_core, synth_network
    graph = ir.load(path)
    net = lower(graph, lanes=lanes)
    _check_fit_or_suggest(graph, net, target, lanes)
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


def _check_fit_or_suggest(graph, net, target, lanes):
    """The RAM fit check before yosys; when it fails, the message adds the smallest lane
    setting that fits (or that none from 1 to 16 does)."""
    from hwsnn.errors import MappingError
    from hwsnn.mappings.rtl import lower
    from hwsnn.rtl._synth import TARGETS, check_fit, ram_estimate
    try:
        check_fit(net.cores, target, f"network of {len(net.cores)} cores")
    except MappingError as exc:
        cap = TARGETS[target].resources["RAM"][1]
        need = {L: ram_estimate(lower(graph, lanes=L).cores, target) for L in (1, 2, 4, 8, 16) if L != lanes}
        fits = [L for L in sorted(need) if need[L] <= cap]
        hint = (f"; lane settings that fit: {', '.join(f'--lanes {L}' for L in fits)}" if fits else
                f"; no lane setting from 1 to 16 fits (1 lane: about {need.get(1, '?')} RAM blocks)")
        raise MappingError(str(exc) + hint) from None


def _plain(obj):
    return obj.tolist() if hasattr(obj, "tolist") else str(obj)


def register(app):
    app.add_typer(rtl_app, name="rtl")
