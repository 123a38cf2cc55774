"""Energy models: event counts x per-target costs (mappings/targets/*.toml).

per_sop (the papers' method; dual-phase Table 4, SpikeZIP sec. 4.5):
    E_SNN = e_sop * SOPs + E_first,   E_ANN = e_mac * MACs   (or e_flop * FLOPs)
    E_first = e_mac * input_MACs        (first_layer = "mac": multi-bit inputs cost MACs)
            = e_sop * input_value_SOPs  (first_layer = "sop": |q| x fan-out, as if sent as spikes)
            = 0                          (first_layer = "none")
    The dual-phase paper's Table 4 is 0.9 pJ x SOPs with no separate first-layer term:
    156.1 M x 0.9 pJ = 140.5 uJ (tests/energy/test_models.py).

memory (memory-aware): E_SNN = sum over the events the target prices of count x cost, events
    in `MEMORY_EVENTS` (sop, input_mac, input_sop, weight_read, state_read, state_write,
    neuron_update, neuron_update_active, neuron_update_idle, spike_sent). Events the target
    does not price are listed in `unpriced`; an all-in SOP figure (TrueNorth, ODIN total)
    already contains them. The ANN side stays arithmetic only (e_mac x MACs).

All energies are joules per sample (mean over the batch); counts stay exact integers.
"""

from dataclasses import dataclass, field

from hwsnn.errors import TargetError
from hwsnn.mappings.targets import load_target

__all__ = ["EVENT_COUNTS", "EnergyReport", "per_sop_energy", "per_sop", "memory_aware"]

EVENT_COUNTS = {
    "sop": "sops", "input_mac": "input_macs", "input_sop": "input_value_sops",
    "weight_read": "weight_reads", "state_read": "state_reads", "state_write": "state_writes",
    "neuron_update": "updates", "neuron_update_active": "active_updates",
    "neuron_update_idle": "idle_updates", "spike_sent": "spikes", "pool_compare": "pool_compares",
}


@dataclass
class EnergyReport:
    """`layers`: [{"name", "components": {event: J}, "snn": J, "ann": J}] per sample."""

    model: str
    target: str
    ann_target: str
    layers: list
    constants: dict = field(default_factory=dict)  # event -> (energy key, J, source, verified)
    unpriced: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    @property
    def snn(self):
        return sum(l["snn"] for l in self.layers)

    @property
    def ann(self):
        return sum(l["ann"] for l in self.layers)

    @property
    def ratio(self):
        return self.snn / self.ann if self.ann else float("nan")

    def to_dict(self):
        return {"model": self.model, "target": self.target, "ann_target": self.ann_target,
                "snn_J": self.snn, "ann_J": self.ann, "ratio": self.ratio, "layers": self.layers,
                "constants": self.constants, "unpriced": self.unpriced, "notes": self.notes}


def per_sop_energy(sops, ann_ops, e_sop, e_ann, first_layer_ops=0, e_first=0.0):
    """The classic formula on plain numbers: returns (E_SNN, E_ANN) =
    (e_sop*sops + e_first*first_layer_ops, e_ann*ann_ops)."""
    return e_sop * sops + e_first * first_layer_ops, e_ann * ann_ops


def _model(target, name):
    if name not in target.models:
        raise TargetError(f"{target.path}: target '{target.name}' has no [models.{name}] table, "
                          f"so it prices no events for the {name} model")
    return target.models[name]


def _const(target, key):
    c = target.energy[key]
    return {"key": key, "J": c.si, "kind": c.kind, "basis": c.basis, "source": c.source,
            "verified": c.verified, "target": target.name}


def _ann_cost(target, ann_target):
    """(per-op J, "macs" | "flops", target used, constant) for the ANN side."""
    m = target.models.get("per_sop", {})
    if "ann_mac" not in m and "ann_flop" not in m:
        ref = ann_target if ann_target is not None else load_target("horowitz45")
        m = _model(ref, "per_sop")
        if "ann_mac" not in m and "ann_flop" not in m:
            raise TargetError(f"{ref.path}: [models.per_sop] needs 'ann_mac' or 'ann_flop' to "
                              f"price the ANN")
        target = ref
    key, unit = (m["ann_mac"], "macs") if "ann_mac" in m else (m["ann_flop"], "flops")
    return target.energy[key].si, unit, target.name, _const(target, key)


def _mean(counts, kind):
    c = counts[kind]
    return None if c is None else float(c.mean())


def per_sop(counts, target, ann_target=None):
    """Per-SOP model on EventCounts `counts` with Target `target` (see module docstring)."""
    m = _model(target, "per_sop")
    e_sop = target.energy[m["sop"]].si
    e_ann, ann_unit, ann_name, ann_const = _ann_cost(target, ann_target)
    e_mac = e_ann * 2 if ann_unit == "flops" else e_ann  # a MAC is 2 FLOPs
    mode = m.get("first_layer", "mac")
    layers = []
    for layer in counts.layers:
        c = layer.counts
        comp = {"sop": e_sop * _mean(c, "sops")}
        if mode == "mac":
            comp["first_layer"] = e_mac * _mean(c, "input_macs")
        elif mode == "sop":
            comp["first_layer"] = e_sop * _mean(c, "input_value_sops")
        layers.append({"name": layer.name, "components": comp, "snn": sum(comp.values()),
                       "ann": e_ann * layer.ann[ann_unit]})
    notes = [f"ANN priced per {ann_unit[:-1].upper()} with target '{ann_name}'",
             f"first layer (analog input) costed as: {mode}"]
    return EnergyReport("per_sop", target.name, ann_name, layers,
                        {"sop": _const(target, m["sop"]), "ann": ann_const}, [], notes)


def memory_aware(counts, target, ann_target=None):
    """Memory-aware model: every event the target prices, per layer (see module docstring)."""
    m = _model(target, "memory")
    e_ann, ann_unit, ann_name, ann_const = _ann_cost(target, ann_target)
    notes = [f"ANN side: arithmetic only, priced per {ann_unit[:-1].upper()} with target "
             f"'{ann_name}'; its memory traffic is not modelled"]
    events = {e: k for e, k in m.items() if e != "included"}
    included = set(m.get("included", ()))
    split = ("neuron_update_active" in events or "neuron_update_idle" in events)
    if split and counts.total("active_updates") is None:
        # active/idle unknown (no per-step y, or Ca-LIF): price every update as active
        key = events.pop("neuron_update_active", None) or events.pop("neuron_update_idle")
        events.pop("neuron_update_idle", None)
        events["neuron_update"] = key
        notes.append("active/idle split unknown for this run: every update priced as active "
                     "(an upper bound)")
    all_in = target.energy[m["sop"]].kind == "all-in" if "sop" in m else False
    if all_in:
        unpriced = []
        notes.append(f"'{m['sop']}' is an all-in figure: memory, routing and neuron updates are "
                     f"inside it")
    else:
        priced_counts = {EVENT_COUNTS[e] for e in events}
        if "neuron_update" in events or split:
            priced_counts |= {"updates", "active_updates", "idle_updates"}
        skip = included | {"neuron_update_active", "neuron_update_idle"}
        skip |= {"input_mac", "input_sop"} if {"input_mac", "input_sop"} & set(events) else {"input_sop"}
        unpriced = sorted(e for e, k in EVENT_COUNTS.items()
                          if k not in priced_counts and counts.total(k) is not None
                          and int(counts.total(k).sum()) > 0 and e not in skip)
        if included:
            notes.append(f"inside other figures of this target: {', '.join(sorted(included))}")
    layers = []
    for layer in counts.layers:
        comp = {e: target.energy[key].si * _mean(layer.counts, EVENT_COUNTS[e])
                for e, key in events.items()}
        layers.append({"name": layer.name, "components": comp, "snn": sum(comp.values()),
                       "ann": e_ann * layer.ann[ann_unit]})
    constants = {e: _const(target, key) for e, key in events.items()}
    constants["ann"] = ann_const
    return EnergyReport("memory", target.name, ann_name, layers, constants, unpriced, notes)
