"""`hwsnn board run|build` end to end (slow: Verilator builds, yosys + nextpnr)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
from randnets import random_input, random_stbif_net  # noqa: E402

from hwsnn import ir  # noqa: E402

HWSNN = [sys.executable, "-m", "hwsnn.cli"]
pytestmark = [pytest.mark.slow, pytest.mark.rtl]


def _net(tmp_path, samples=3):
    g = random_stbif_net(1)
    ir.save(g, tmp_path / "n.hwir")
    np.savez(tmp_path / "x.npz", x=random_input(g, samples, 0))
    return tmp_path / "n.hwir", tmp_path / "x.npz"


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """The demo's files (`hwsnn demo` writes the same): the bundled digits IR and its 360 test images."""
    from hwsnn.examples import load_digits_ir
    graph, x, y, _ = load_digits_ir()
    d = tmp_path_factory.mktemp("demo")
    ir.save(graph, d / "digits.hwir")
    np.savez(d / "x_test.npz", x=x, y=y)
    return d / "digits.hwir", d / "x_test.npz"


def _run(*args):
    return subprocess.run(HWSNN + [str(a) for a in args], capture_output=True, text=True, timeout=3000)


def test_run_sim_real_bit_timing(tmp_path):
    net, x = _net(tmp_path, 2)
    res = _run("board", "run", net, "--port", "sim", "--input", x, "--json")  # 434 cycles per bit
    assert res.returncode == 0, res.stderr
    rep = json.loads(res.stdout)
    assert rep["images"] == rep["compared"] == 2 and rep["mismatches"] == 0


def test_run_sim_bad_frames_one_line_each(tmp_path):
    net, x = _net(tmp_path, 7)
    res = _run("board", "run", net, "--port", "sim", "--input", x, "--sim-divisor", "8",
               "--inject", "crc,length,version,cut,trailing,noise,type")
    assert res.returncode == 1 and "Traceback" not in res.stderr + res.stdout
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("board error:")]
    assert [ln.split()[2] for ln in lines] == ["CRC", "LENGTH", "VERSION", "CUT", "STRAY", "STRAY", "TYPE"]
    assert "7 images, 7 compared with golden, 0 mismatches" in res.stdout


def test_digits_360_images_over_sim(digits):
    res = _run("board", "run", digits[0], "--port", "sim", "--input", digits[1],
               "--lanes", "16", "--sim-divisor", "8", "--json")
    assert res.returncode == 0, res.stderr
    rep = json.loads(res.stdout)
    assert rep["images"] == rep["compared"] == 360 and rep["mismatches"] == 0


def test_build_icebreaker_small_network(tmp_path):
    net, _ = _net(tmp_path)
    res = _run("board", "build", net, "--board", "icebreaker", "-o", tmp_path / "b", "--json")
    assert res.returncode == 0, res.stderr
    rep = json.loads(res.stdout)
    assert rep["clock_mhz"] <= rep["fmax_mhz"] and os.path.getsize(rep["bitstream"]) > 0


def test_digits_on_icebreaker_names_the_resource(tmp_path, digits):
    res = _run("board", "build", digits[0], "--board", "icebreaker", "-o", tmp_path / "b")
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert "does not fit" in res.stderr and "RAM" in res.stderr and "ulx3s-85f" in res.stderr


def test_run_sim_icarus(tmp_path):
    net, x = _net(tmp_path, 2)
    res = _run("board", "run", net, "--port", "sim", "--sim", "icarus", "--sim-divisor", "8", "--input", x, "--json")
    assert res.returncode == 0, res.stderr
    rep = json.loads(res.stdout)
    assert rep["compared"] == 2 and rep["mismatches"] == 0 and "icarus" in rep["port"]


@pytest.mark.parametrize("family", ["ecp5", "ice40"])
def test_gate_level_netlist_equals_golden(tmp_path, family):
    """yosys synth_<family> netlist of the whole board top + yosys's cell models, through the UART."""
    net, x = _net(tmp_path, 3)
    res = _run("board", "run", net, "--port", "sim", "--gate", family, "--sim-divisor", "8", "--input", x, "--json")
    assert res.returncode == 0, res.stderr
    rep = json.loads(res.stdout)
    assert rep["images"] == rep["compared"] == 3 and rep["mismatches"] == 0 and "gate-level" in rep["port"]


def test_gate_level_check_catches_a_mutated_netlist(tmp_path, monkeypatch):
    """The board top's answer fields big-endian (a byte-order bug in the RTL): the ECP5 netlist's
    answers must then differ from golden."""
    import hwsnn.rtl.board._link as link_mod
    from hwsnn.board._run import run_on_board
    from hwsnn.mappings.rtl import lower
    from hwsnn.rtl.board import LinkParams
    from hwsnn.mappings.rtl._board import design_id
    from hwsnn.rtl.board._gate import GateBoard
    g = random_stbif_net(1)
    x = random_input(g, 3, 0)
    real = link_mod.le_bytes
    monkeypatch.setattr(link_mod, "le_bytes", lambda v, n: real(v, n)[::-1])
    params = LinkParams(lower(g, lanes=1), 8, gap_bits=64, design_id=design_id(g))
    board = GateBoard(params, "ecp5")
    try:
        rep = run_on_board(g, x, 8, board, 64, say=lambda s: None)
    finally:
        board.close()
    assert rep["compared"] == 3 and rep["mismatches"] > 0
