"""`hwsnn inspect NET.hwir`: nodes, shapes, bit widths and parameters of an IR file."""

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


def register(app):
    @app.command("inspect")
    def inspect_cmd(path: str = typer.Argument(..., help="IR file (.hwir)"),
                    as_json: bool = typer.Option(False, "--json", help="print JSON")):
        """Show the nodes, shapes, bit widths and parameters of an IR file."""
        graph = ir.load(path)
        rows = inspect_graph(graph)
        if as_json:
            print(json.dumps({"name": graph.name, "meta": graph.meta, "nodes": rows}, default=str))
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
