"""Hardware targets: one TOML file each in `mappings/targets/`, read with `tomllib`.

Every constant is a table with its value, unit, kind (per-operation or all-in), basis
(measured, simulated, estimate, derived), source and whether it was verified here:

    [energy.sop]                        [limits.neurons_per_core]
    value = 23.6                        value = 1024
    unit = "pJ"                         unit = "count"
    kind = "per-operation"              source = "..."
    basis = "simulated"                 verified = false
    source = "Davies et al. 2018, ..."
    verified = false

A derived energy gives `sum_of = ["add_fp32", "mult_fp32"]` instead of `value`.
`[models.per_sop]` and `[models.memory]` say which constants price which events (see
hwsnn.energy). A user adds a target by adding a file, or passes a path to `load_target`.
A malformed file raises TargetError naming the file and the key.
"""

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from hwsnn.errors import TargetError

__all__ = ["Constant", "Target", "load_target", "list_targets", "TARGET_DIR", "ENERGY_UNITS",
           "LIMITS", "MEMORY_EVENTS", "FIRST_LAYER_MODES"]

TARGET_DIR = Path(__file__).parent / "targets"
ENERGY_UNITS = {"J": 1.0, "mJ": 1e-3, "uJ": 1e-6, "nJ": 1e-9, "pJ": 1e-12, "fJ": 1e-15}
LIMIT_UNITS = {"count": 1, "bits": 1, "bytes": 8, "KiB": 8 * 1024}
LIMITS = {  # key -> allowed units
    "chips": ("count",), "cores_per_chip": ("count",), "neurons_per_core": ("count",),
    "axons_per_core": ("count",), "synapses_per_core": ("count",),
    "synapse_memory_per_core": ("bits", "bytes", "KiB"),
    "weight_bits": ("bits",), "state_bits": ("bits",),
}
KINDS = ("per-operation", "all-in")
BASES = ("measured", "simulated", "estimate", "derived")
MEMORY_EVENTS = ("sop", "input_mac", "input_sop", "weight_read", "state_read", "state_write",
                 "neuron_update", "neuron_update_active", "neuron_update_idle", "spike_sent")
FIRST_LAYER_MODES = ("mac", "sop", "none")
_KEY = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Constant:
    """One figure. `si` is the value in joules (energy) or in bits/counts (limits)."""

    key: str
    value: float
    unit: str
    si: float
    source: str
    verified: bool
    kind: str = ""
    basis: str = ""
    note: str = ""
    sum_of: tuple = ()


@dataclass(frozen=True)
class Target:
    name: str
    path: str
    title: str
    process: str
    source: str
    estimate: bool
    notes: str
    energy: dict = field(default_factory=dict)
    limits: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict)

    def joules(self, key):
        return self.energy[key].si

    def limit(self, key):
        """Integer limit (bits for synapse memory), or None when the target does not state it."""
        c = self.limits.get(key)
        return None if c is None else int(c.si)


def _show(path):
    p = Path(path)
    try:
        return str(Path("targets") / p.resolve().relative_to(TARGET_DIR.resolve()))
    except ValueError:
        return str(path)


class _Reader:
    def __init__(self, path):
        self.path = _show(path)

    def fail(self, key, msg):
        raise TargetError(f"{self.path}: key '{key}' {msg}")

    def get(self, table, key, prefix, kind, required=True, default=None):
        full = f"{prefix}.{key}"
        if key not in table:
            if required:
                self.fail(full, "is missing")
            return default
        v = table[key]
        if kind == "number":
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                self.fail(full, f"must be a number, not {v!r}")
        elif kind == "string":
            if not isinstance(v, str) or not v.strip():
                self.fail(full, f"must be a non-empty string, not {v!r}")
        elif kind == "bool":
            if not isinstance(v, bool):
                self.fail(full, f"must be true or false, not {v!r}")
        elif kind == "table":
            if not isinstance(v, dict):
                self.fail(full, f"must be a table, not {v!r}")
        return v

    def choice(self, table, key, prefix, options, required=True):
        v = self.get(table, key, prefix, "string", required)
        if v is not None and v not in options:
            self.fail(f"{prefix}.{key}", f"must be one of {list(options)}, not {v!r}")
        return v


def _energy(r, raw):
    out, pending = {}, {}
    for key, t in raw.items():
        p = f"energy.{key}"
        if not _KEY.match(key):
            r.fail(p, "must be a lower-case name (letters, digits, _)")
        if not isinstance(t, dict):
            r.fail(p, f"must be a table, not {t!r}")
        unit = r.choice(t, "unit", p, tuple(ENERGY_UNITS))
        common = dict(key=key, unit=unit, source=r.get(t, "source", p, "string"),
                      verified=r.get(t, "verified", p, "bool"), kind=r.choice(t, "kind", p, KINDS),
                      basis=r.choice(t, "basis", p, BASES), note=t.get("note", ""))
        if "sum_of" in t:
            parts = t["sum_of"]
            if not isinstance(parts, list) or not parts or not all(isinstance(s, str) for s in parts):
                r.fail(f"{p}.sum_of", f"must be a list of energy names, not {parts!r}")
            pending[key] = (common, tuple(parts))
        else:
            v = float(r.get(t, "value", p, "number"))
            if v < 0:
                r.fail(f"{p}.value", f"must be >= 0, not {v!r}")
            out[key] = Constant(value=v, si=v * ENERGY_UNITS[unit], **common)
    for key, (common, parts) in pending.items():
        for part in parts:
            if part not in out:
                r.fail(f"energy.{key}.sum_of", f"names '{part}', which is not a measured energy "
                                                f"(derived energies may only sum plain ones)")
        si = sum(out[s].si for s in parts)
        out[key] = Constant(value=si / ENERGY_UNITS[common["unit"]], si=si, sum_of=parts, **common)
    return out


def _limits(r, raw):
    out = {}
    for key, t in raw.items():
        p = f"limits.{key}"
        if key not in LIMITS:
            r.fail(p, f"is not a known limit; expected one of {sorted(LIMITS)}")
        if not isinstance(t, dict):
            r.fail(p, f"must be a table, not {t!r}")
        v = r.get(t, "value", p, "number")
        if v != int(v) or v < 1:
            r.fail(f"{p}.value", f"must be a positive integer, not {v!r}")
        unit = r.choice(t, "unit", p, LIMITS[key])
        out[key] = Constant(key=key, value=v, unit=unit, si=int(v) * LIMIT_UNITS[unit],
                            source=r.get(t, "source", p, "string"),
                            verified=r.get(t, "verified", p, "bool"), note=t.get("note", ""))
    return out


def _models(r, raw, energy):
    models = {}
    for name, t in raw.items():
        p = f"models.{name}"
        if name not in ("per_sop", "memory"):
            r.fail(p, "is not a known model; expected 'per_sop' or 'memory'")
        if not isinstance(t, dict):
            r.fail(p, f"must be a table, not {t!r}")
        m = {}
        for key, v in t.items():
            if name == "per_sop" and key == "first_layer":
                m[key] = r.choice(t, key, p, FIRST_LAYER_MODES)
                continue
            if name == "memory" and key == "included":
                if not isinstance(v, list) or not all(e in MEMORY_EVENTS for e in v):
                    r.fail(f"{p}.included", f"must be a list of events from {list(MEMORY_EVENTS)}, "
                                            f"not {v!r}")
                m[key] = tuple(v)
                continue
            allowed = ("sop", "ann_mac", "ann_flop") if name == "per_sop" else MEMORY_EVENTS
            if key not in allowed:
                r.fail(f"{p}.{key}", f"is not a known event; expected one of {list(allowed)}")
            r.get(t, key, p, "string")
            if v not in energy:
                r.fail(f"{p}.{key}", f"names energy '{v}', which this file does not define")
            m[key] = v
        if name == "per_sop":
            if "sop" not in m:
                r.fail(f"{p}.sop", "is missing")
            if "ann_mac" in m and "ann_flop" in m:
                r.fail(f"{p}.ann_flop", "cannot be given together with 'ann_mac'")
            m.setdefault("first_layer", "mac")
        models[name] = m
    return models


def _parse(path, text, name):
    r = _Reader(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TargetError(f"{r.path}: not valid TOML: {exc}") from None
    head = r.get(data, "target", "", "table") if "target" in data else r.fail("target", "is missing")
    for key in data:
        if key not in ("target", "energy", "limits", "models"):
            r.fail(key, "is not a known section; expected target, energy, limits, models")
    energy = _energy(r, r.get(data, "energy", "", "table", required=False, default={}))
    return Target(
        name=r.get(head, "name", "target", "string", required=False, default=name),
        path=r.path,
        title=r.get(head, "title", "target", "string"),
        process=r.get(head, "process", "target", "string"),
        source=r.get(head, "source", "target", "string"),
        estimate=r.get(head, "estimate", "target", "bool", required=False, default=False),
        notes=head.get("notes", ""),
        energy=energy,
        limits=_limits(r, r.get(data, "limits", "", "table", required=False, default={})),
        models=_models(r, r.get(data, "models", "", "table", required=False, default={}), energy),
    )


def list_targets():
    """Names of the bundled targets (file stems in mappings/targets/)."""
    return sorted(p.stem for p in TARGET_DIR.glob("*.toml"))


def load_target(name_or_path):
    """A bundled target by name ("loihi") or any TOML file by path. TargetError if malformed."""
    s = str(name_or_path)
    path = Path(s) if (s.endswith(".toml") or "/" in s) else TARGET_DIR / f"{s}.toml"
    if not path.is_file():
        raise TargetError(f"target {s!r} not found: expected a file {_show(path)} "
                          f"(bundled targets: {', '.join(list_targets())})")
    return _parse(path, path.read_text(encoding="utf-8"), path.stem)
