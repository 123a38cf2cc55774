"""`hwsnn inspect NET.hwir`: nodes, shapes, bit widths and parameters of an IR file, and whether
it is Loihi-native (runs on Lava's own LIF/Dense/Conv processes) or why not."""

import json

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from .. import ir


def inspect_graph(graph):
    """Rows describing every node: name, type, shape, widths, parameters, inputs."""
    shapes = ir.verify(graph)
    rows = []
    for name in graph.topo_order():
        node = graph.nodes[name]
        widths = {k: v for k, v in node.scalars().items() if k.endswith("_bits")}
        params = {k: v for k, v in node.scalars().items() if k not in widths and k != "shape"}
        for field, arr in node.arrays().items():
            params[field] = (int(arr) if arr.ndim == 0 else
                             f"{arr.shape} in [{int(arr.min())}, {int(arr.max())}]")
        ins = [f"{e.src}" + (f" (delay {e.delay})" if e.delay else "") for e in graph.inputs_of(name)]
        rows.append({"name": name, "type": node.type, "shape": list(shapes[name]), "widths": widths,
                     "params": params, "inputs": ins})
    return rows


def loihi_native(graph):
    """{"native": bool, "reason": why not (None when native), "note": delays Lava will use}."""
    from ..mappings.lava._native import native_reason
    why = native_reason(graph)
    zero = [f"{e.src} -> {e.dst}" for e in graph.edges
            if e.delay == 0 and graph.nodes[e.src].ROLE in ("source", "neuron")]
    note = (f"Loihi delivers one step late: Lava runs delay 1 on {len(zero)} delay-0 edge(s) "
            f"({zero[0]}{', ...' if len(zero) > 1 else ''})") if zero and why is None else None
    return {"native": why is None, "reason": why, "note": note}


def native_line(info):
    if info["native"]:
        line = "Loihi-native: yes (Lava's own LIF, Dense and Conv processes, bit-accurate models)"
        return line + (f"; {info['note']}" if info["note"] else "")
    return f"Loihi-native: no ({info['reason']})"


def register(app):
    @app.command("inspect")
    def inspect_cmd(path: str = typer.Argument(..., help="IR file (.hwir)"),
                    as_json: bool = typer.Option(False, "--json", help="print JSON")):
        """Show the nodes, shapes, bit widths and parameters of an IR file."""
        graph = ir.load(path)
        rows = inspect_graph(graph)
        native = loihi_native(graph)
        if as_json:
            print(json.dumps({"name": graph.name, "meta": graph.meta, "nodes": rows,
                              "loihi_native": native}, default=str))
            return
        table = Table(title=f"{path}: {graph.name} ({len(graph.nodes)} nodes)")
        for col in ("node", "type", "shape", "widths", "parameters", "inputs"):
            table.add_column(col)
        for r in rows:
            table.add_row(r["name"], r["type"], str(tuple(r["shape"])),
                          ", ".join(f"{k}={v}" for k, v in r["widths"].items()),
                          ", ".join(f"{k}={v}" for k, v in r["params"].items()),
                          ", ".join(r["inputs"]))
        Console().print(table)
        print(native_line(native))
