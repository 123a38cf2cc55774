"""`hwsnn map NET.hwir --target NAME`: place every layer onto cores, with design-rule checks."""

import json

import typer
from rich.console import Console
from rich.table import Table

from .. import ir
from .cmd_energy import console

UTIL = {"neurons_per_core": "neurons", "axons_per_core": "axons", "synapses_per_core": "synapses",
        "synapse_memory_per_core": "syn. memory"}


def register(app):
    @app.command("map")
    def map_cmd(path: str = typer.Argument(..., help="IR file (.hwir)"),
                target: str = typer.Option(..., "--target", help="target name or TOML file"),
                as_json: bool = typer.Option(False, "--json", help="print JSON")):
        """Partition each layer's neurons onto the target's cores; MappingError if it cannot fit."""
        from ..mappings.place import place
        from ..mappings.targets import load_target
        graph = ir.load(path)
        tgt = load_target(target)
        p = place(graph, tgt)
        if as_json:
            print(json.dumps(p.to_dict()))
            return
        lim = ", ".join(f"{k}={v:,}" for k, v in p.limits.items())
        t = Table(title=f"{path}: {graph.name} on {tgt.name} ({lim})")
        util_keys = [k for k in ("neurons_per_core", "axons_per_core", "synapses_per_core",
                                 "synapse_memory_per_core") if p.limits.get(k)]
        for col in ("layer", "type", "neurons", "max fan-in", "synapses", "weight bits",
                    "state bits", "cores") + tuple(f"max {UTIL[k]}" for k in util_keys):
            t.add_column(col, justify="left" if col in ("layer", "type") else "right")
        for l in p.layers:
            worst = {k: max((p.utilisation(c)[k] for c in l.cores), default=0.0) for k in util_keys}
            t.add_row(l.name, l.type, f"{l.neurons:,}", f"{l.max_fanin:,}", f"{l.synapses:,}",
                      str(l.weight_bits), str(l.state_bits), str(len(l.cores)),
                      *(f"{worst[k]:.0%}" for k in util_keys))
        con = console()
        con.print(t)
        chips = f", {p.chips} chip(s) of {p.limits['cores_per_chip']} cores" if p.chips else ""
        con.print(f"total: {p.cores} cores{chips}")
