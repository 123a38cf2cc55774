"""Energy: exact event counts of a run x per-target costs (mappings/targets/*.toml).

`count_events(trace, x)` counts SOPs, input MACs, neuron updates (active/idle), weight and
state memory accesses and spikes per layer and sample; `per_sop` and `memory_aware` price
them; `plan_steps` and `default_input` choose what a run runs when the user does not say.
See docs/energy.md.
"""

from ..ir import Chain, ann_ops, chains, stage_matrix  # IR analyses, re-exported
from ._count import KINDS, EventCounts, LayerEvents, count_events, source_emissions
from ._models import EVENT_COUNTS, EnergyReport, memory_aware, per_sop, per_sop_energy
from ._report import energy_json, energy_table, fmt_joules, plot_energy
from ._run import StepPlan, default_input, input_range, plan_steps

__all__ = [
    "Chain", "chains", "stage_matrix", "ann_ops", "KINDS", "EventCounts", "LayerEvents",
    "count_events", "source_emissions", "EVENT_COUNTS", "EnergyReport", "per_sop",
    "per_sop_energy", "memory_aware", "energy_table", "energy_json", "plot_energy", "fmt_joules",
    "StepPlan", "default_input", "input_range", "plan_steps",
]
