"""Target files: every bundled one loads and traces its figures; malformed files name the key."""

import tomllib

import pytest

from hwsnn.errors import TargetError
from hwsnn.mappings.targets import TARGET_DIR, list_targets, load_target

REQUIRED = {"horowitz45", "loihi", "truenorth", "odin", "reckon", "spinnaker2", "rolls", "hwsnn_rtl"}

GOOD = """
[target]
title = "test"
process = "1 nm"
source = "nowhere"

[energy.op]
value = 2.5
unit = "pJ"
kind = "per-operation"
basis = "measured"
source = "a paper"
verified = true

[limits.neurons_per_core]
value = 4
unit = "count"
source = "test"
verified = true

[models.per_sop]
sop = "op"
"""


def write(tmp_path, text, name="foo.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_bundled_targets_present_and_valid():
    assert REQUIRED <= set(list_targets())
    for name in list_targets():
        t = load_target(name)
        assert t.name == name and t.path == f"targets/{name}.toml"
        for c in list(t.energy.values()) + list(t.limits.values()):
            assert c.source.strip() and isinstance(c.verified, bool)
        raw = tomllib.loads((TARGET_DIR / f"{name}.toml").read_text())
        for key, c in raw.get("energy", {}).items():
            assert "value" in c or "sum_of" in c, f"{name}: energy.{key}"


def test_figures_as_cited():
    h, l, t, o = (load_target(n) for n in ("horowitz45", "loihi", "truenorth", "odin"))
    pj = 1e-12
    assert [round(h.joules(k) / pj, 6) for k in ("add_fp32", "mult_fp32", "add_int8", "mult_int8",
                                                 "add_int32", "mult_int32", "mac_fp32")] == \
        [0.9, 3.7, 0.03, 0.2, 0.1, 3.1, 4.6]
    assert [h.joules(k) / pj for k in ("sram_8kb_read_64b", "sram_32kb_read_64b",
                                       "sram_1mb_read_64b")] == [10, 20, 100]
    assert round(l.joules("synaptic_spike_op") / pj, 6) == 23.6
    assert l.energy["synaptic_spike_op"].basis == "simulated"  # pre-silicon
    assert (l.limit("cores_per_chip"), l.limit("neurons_per_core"), l.limit("axons_per_core"),
            l.limit("synapse_memory_per_core"), l.limit("weight_bits"), l.limit("state_bits")) == \
        (128, 1024, 4096, 128 * 1024 * 8, 8, 24)
    assert t.joules("synaptic_event") / pj == 26 and t.energy["synaptic_event"].kind == "all-in"
    assert round(o.joules("sop_total") / pj, 6) == 12.7 and o.limit("weight_bits") == 4
    assert load_target("hwsnn_rtl").estimate is True


def test_load_by_path(tmp_path):
    t = load_target(str(write(tmp_path, GOOD)))
    assert t.name == "foo" and t.joules("op") == pytest.approx(2.5e-12)
    assert t.limit("neurons_per_core") == 4
    assert t.models["per_sop"] == {"sop": "op", "first_layer": "mac"}


@pytest.mark.parametrize("old,new,message", [
    ('value = 2.5', 'value = "abc"', "key 'energy.op.value' must be a number, not 'abc'"),
    ('unit = "pJ"', 'unit = "pj"', "key 'energy.op.unit' must be one of ['J', 'mJ', 'uJ', 'nJ', "
                                   "'pJ', 'fJ'], not 'pj'"),
    ('source = "a paper"\n', '', "key 'energy.op.source' is missing"),
    ('verified = true\n\n[limits', 'verified = "yes"\n\n[limits',
     "key 'energy.op.verified' must be true or false, not 'yes'"),
    ('kind = "per-operation"', 'kind = "each"',
     "key 'energy.op.kind' must be one of ['per-operation', 'all-in'], not 'each'"),
    ('[limits.neurons_per_core]', '[limits.neurons_per_cor]',
     "key 'limits.neurons_per_cor' is not a known limit; expected one of ['axons_per_core', "
     "'chips', 'cores_per_chip', 'neurons_per_core', 'state_bits', 'synapse_memory_per_core', "
     "'synapses_per_core', 'weight_bits']"),
    ('value = 4', 'value = 4.5', "key 'limits.neurons_per_core.value' must be a positive integer, not 4.5"),
    ('sop = "op"', 'sop = "opp"', "key 'models.per_sop.sop' names energy 'opp', which this file "
                                  "does not define"),
    ('title = "test"\n', '', "key 'target.title' is missing"),
])
def test_malformed_file_names_the_key(tmp_path, old, new, message):
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(TargetError) as e:
        load_target(str(path))
    assert str(e.value) == f"{path}: {message}"


def test_not_toml_and_missing(tmp_path):
    path = write(tmp_path, "[target\n")
    with pytest.raises(TargetError, match=r"foo\.toml: not valid TOML"):
        load_target(str(path))
    with pytest.raises(TargetError) as e:
        load_target("nosuch")
    assert str(e.value).startswith("target 'nosuch' not found: expected a file targets/nosuch.toml "
                                   "(bundled targets: horowitz45, hwsnn_rtl, loihi")


def test_derived_energy_sums_its_parts(tmp_path):
    text = GOOD + """
[energy.two]
sum_of = ["op", "op"]
unit = "pJ"
kind = "per-operation"
basis = "derived"
source = "op twice"
verified = true
"""
    t = load_target(str(write(tmp_path, text)))
    assert t.joules("two") == pytest.approx(5e-12)
    bad = text.replace('sum_of = ["op", "op"]', 'sum_of = ["op", "nope"]')
    with pytest.raises(TargetError) as e:
        load_target(str(write(tmp_path, bad, "bad.toml")))
    assert str(e.value).endswith("bad.toml: key 'energy.two.sum_of' names 'nope', which is not a "
                                 "measured energy (derived energies may only sum plain ones)")
