"""Monitor records of the fast testbench wrapper: the binary form (DPI-C, Verilator) parsed by
`parse_records`, against records packed here from the field widths alone; bad files are
refused with the reason."""

import numpy as np
import pytest

from hwsnn.rtl.sim._fast_tb import RecordFormat, parse_records


def ports(index_bits, v_bits, s_bits):
    p = {}
    for k in range(2):
        p.update({f"mon{k}__index": ("output", index_bits), f"mon{k}__v": ("output", v_bits),
                  f"mon{k}__s": ("output", s_bits), f"mon{k}__y": ("output", 2), f"mon{k}__ovf": ("output", 1)})
    return p


def pack(fmt, rows):
    """128-bit words (lo, hi) of records {field: value}: fields side by side, flags on top,
    each in its number of hex digits (two's complement)."""
    out = []
    for row in rows:
        word = 0
        for name, digits in fmt.fields:
            word = (word << (4 * digits)) | (int(row[name]) & ((1 << (4 * digits)) - 1))
        out += [word & (2**64 - 1), word >> 64]
    return np.array(out, dtype="<u8")


@pytest.mark.parametrize("widths", [(6, 15, 5), (16, 40, 8)])  # 56-bit and 88-bit records
def test_binary_records_round_trip(tmp_path, widths):
    fmt = RecordFormat(ports(*widths), 2, binary=True)
    rng = np.random.default_rng(0)
    ib, vb, sb = widths
    rows = [{"flags": int(rng.integers(0, 16)), "core": int(rng.integers(0, 2)),
             "index": int(rng.integers(0, 2**ib)), "v": int(rng.integers(-(2**(vb - 1)), 2**(vb - 1))),
             "s": int(rng.integers(-(2**(sb - 1)), 2**(sb - 1))), "y": int(rng.integers(-1, 2))} for _ in range(50)]
    rows += [{"flags": 8, "core": 0, "index": 0, "v": 0, "s": 0, "y": 0},
             {"flags": 2, "core": 1, "index": 2**ib - 1, "v": -(2**(vb - 1)), "s": 2**(sb - 1) - 1, "y": -1}]
    path = tmp_path / "mon.bin"
    pack(fmt, rows).tofile(path)
    got = parse_records(path, fmt)
    for name, _ in fmt.fields:
        assert got[name].tolist() == [r[name] for r in rows], name


def test_binary_records_refuse_bad_files(tmp_path):
    fmt = RecordFormat(ports(6, 15, 5), 2, binary=True)
    path = tmp_path / "mon.bin"
    np.zeros(3, dtype="<u8").tofile(path)
    with pytest.raises(ValueError, match="16-byte records"):
        parse_records(path, fmt)
    np.array([1 << (4 * fmt.digits), 0], dtype="<u8").tofile(path)  # a bit above the record
    with pytest.raises(ValueError, match="bits set above"):
        parse_records(path, fmt)
    np.array([0, 1], dtype="<u8").tofile(path)
    with pytest.raises(ValueError, match="bits set above"):
        parse_records(path, fmt)
    with pytest.raises(ValueError, match="does not fit 128 bits"):
        RecordFormat(ports(40, 64, 16), 2, binary=True)


@pytest.mark.parametrize("binary", [False, True])
def test_wrapper_of_many_cores_keeps_lines_short(binary):
    """densenet121 lowers to 658 cores: the wrapper's port list and stat line were one line each,
    past Verilator's 40000 preprocessor tokens per line. Every line now stays short."""
    from hwsnn.rtl.sim._fast_tb import tb_verilog
    ncores = 700
    p = {"clk": ("input", 1), "rst": ("input", 1), "init": ("input", 1), "step": ("input", 1),
         "inp__valid": ("input", 1), "inp__payload": ("input", 12), "inp__ready": ("output", 1),
         "out__ready": ("input", 1), "out__valid": ("output", 1), "out__payload": ("output", 5),
         "busy": ("output", 1), "ovf": ("output", 1)}
    for k in range(ncores):
        p.update({f"mon{k}__valid": ("output", 1), f"mon{k}__index": ("output", 10),
                  f"mon{k}__v": ("output", 20), f"mon{k}__s": ("output", 8), f"mon{k}__y": ("output", 2),
                  f"mon{k}__ovf": ("output", 1), f"sops{k}": ("output", 32), f"acc_cycles{k}": ("output", 32)})
    text = tb_verilog(p, ncores, binary=binary, burst_clock=binary)
    assert f".acc_cycles{ncores - 1}(acc_cycles{ncores - 1})" in text  # every core still connected
    assert f"sops{ncores - 1}, acc_cycles{ncores - 1}" in text
    longest = max(text.splitlines(), key=len)
    assert len(longest) < 8000, longest[:200]
