"""Presentation of counts and energies: a rich table, a JSON-able dict, a stacked bar plot."""

import os
import tempfile

from rich.table import Table

__all__ = ["energy_table", "energy_json", "plot_energy", "fmt_joules"]


def fmt_joules(j):
    if j is None:
        return "-"
    for unit, scale in (("mJ", 1e-3), ("uJ", 1e-6), ("nJ", 1e-9), ("pJ", 1e-12)):
        if abs(j) >= scale:
            return f"{j / scale:.4g} {unit}"
    return f"{j / 1e-15:.4g} fJ"


def _num(v):
    return "-" if v is None else f"{v:,.1f}" if v != int(v) else f"{int(v):,}"


def energy_table(counts, reports, title):
    """Per-layer table: counts (mean per sample) and each model's SNN/ANN energy."""
    t = Table(title=title)
    for col in ("layer", "type", "neurons", "SOPs", "input MACs", "spikes", "active upd.",
                "idle upd.", "ANN MACs"):
        t.add_column(col, justify="left" if col in ("layer", "type") else "right")
    for r in reports:
        t.add_column(f"SNN {r.model}", justify="right")
    t.add_column("ANN", justify="right")
    for i, layer in enumerate(counts.layers):
        row = [layer.name, layer.type, f"{layer.neurons:,}"]
        row += [_num(layer.mean(k)) for k in ("sops", "input_macs", "spikes", "active_updates",
                                              "idle_updates")]
        row.append(f"{layer.ann['macs']:,}")
        row += [fmt_joules(r.layers[i]["snn"]) for r in reports]
        row.append(fmt_joules(reports[0].layers[i]["ann"]) if reports else "-")
        t.add_row(*row)
    tot = ["total", "", f"{sum(l.neurons for l in counts.layers):,}"]
    for k in ("sops", "input_macs", "spikes", "active_updates", "idle_updates"):
        v = counts.total(k)
        tot.append(_num(None if v is None else float(v.mean())))
    tot.append(f"{counts.ann_total('macs'):,}")
    tot += [fmt_joules(r.snn) for r in reports]
    tot.append(fmt_joules(reports[0].ann) if reports else "-")
    t.add_row(*tot, style="bold")
    return t


def energy_json(counts, reports, target, extra):
    return {**extra, "target": {"name": target.name, "path": target.path, "title": target.title,
                                "process": target.process, "estimate": target.estimate},
            "counts": counts.to_dict(), "models": {r.model: r.to_dict() for r in reports}}


def plot_energy(reports, path):
    """Stacked bars per layer: one bar per model (its components stacked) and the ANN bar.
    Written atomically (temporary file in the same folder, then renamed)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = [l["name"] for l in reports[0].layers]
    x = np.arange(len(names))
    width = 0.8 / (len(reports) + 1)
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(names) + 2), 4.5))
    for i, r in enumerate(reports):
        bottom = np.zeros(len(names))
        comps = sorted({c for l in r.layers for c in l["components"]})
        for c in comps:
            vals = np.array([l["components"].get(c, 0.0) for l in r.layers]) * 1e9
            ax.bar(x + i * width, vals, width, bottom=bottom, label=f"{r.model}: {c}")
            bottom += vals
    ann = np.array([l["ann"] for l in reports[0].layers]) * 1e9
    ax.bar(x + len(reports) * width, ann, width, color="0.3", label=f"ANN ({reports[0].ann_target})")
    ax.set_xticks(x + width * len(reports) / 2, names, rotation=30, ha="right")
    ax.set_ylabel("energy per sample (nJ)")
    ax.set_title(f"{reports[0].target}: energy per layer")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=folder)
    mask = os.umask(0)  # mkstemp makes the file 0600: give it the mode a plain open would
    os.umask(mask)
    os.fchmod(fd, 0o666 & ~mask)
    os.close(fd)
    try:
        fig.savefig(tmp, format="png", dpi=120)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)
