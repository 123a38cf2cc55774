"""The board top's link in Amaranth's simulator: answers equal golden, each bad frame gets its
error frame, and mutations of the CRC, the byte order or a readout bit are caught."""

import binascii
import os
import sys

import numpy as np
import pytest
from amaranth.hdl import Const
from amaranth.sim import Simulator

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
sys.path.insert(0, os.path.dirname(__file__))
from amaranth_link import exchange  # noqa: E402
from randnets import random_input, random_stbif_net  # noqa: E402

from hwsnn.board._frames import Answer, BoardError, Result, crc16, frame, parse_payload, run_payload  # noqa: E402
from hwsnn.board._host import bad_frame  # noqa: E402
from hwsnn.board._run import Layout, _compare, golden_answers  # noqa: E402
from hwsnn.errors import BackendError  # noqa: E402
from hwsnn.mappings.rtl import lower  # noqa: E402
from hwsnn.rtl.board import BoardLink, LinkParams  # noqa: E402
from hwsnn.rtl.board._crc import crc16_update  # noqa: E402

DIV, GAP, STEPS = 4, 16, 8


def _answers(raw, layout):
    out, i = [], 0
    while i < len(raw):
        n = raw[i + 3] | (raw[i + 4] << 8)
        body, crc = raw[i + 1:i + 5 + n], raw[i + 5 + n] | (raw[i + 6 + n] << 8)
        if crc16(body) != crc:
            raise BackendError("answer CRC")
        from hwsnn.board._frames import TYPE_NAMES
        out.append(parse_payload(Answer(TYPE_NAMES[raw[i + 2]], bytes(raw[i + 5:i + 5 + n])),
                                 layout.n_out, len(layout.spiking)))
        i += 7 + n
    return out


@pytest.fixture(scope="module")
def small():
    g = random_stbif_net(3)
    x = random_input(g, 2, 1)
    layout = Layout(g)
    params = LinkParams(lower(g, lanes=1), DIV, gap_bits=GAP)
    return g, x, layout, params, golden_answers(layout, x, STEPS)


def test_crc_matches_binascii():
    rng = np.random.default_rng(0)
    for _ in range(20):
        crc, byte = int(rng.integers(0, 1 << 16)), int(rng.integers(0, 256))
        want = binascii.crc_hqx(bytes([byte]), crc)
        sim_val = []

        async def tb(ctx, crc=crc, byte=byte):
            sim_val.append(ctx.get(crc16_update(Const(crc, 16), Const(byte, 8))))
        from amaranth.hdl import Module
        sim = Simulator(Module())
        sim.add_testbench(tb)
        sim.run()
        assert sim_val[0] == want


def test_answers_equal_golden_and_bad_frames_get_errors(small):
    g, x, layout, params, (gv, gc, gs) = small
    ev = layout.events(x, STEPS)
    good = [frame("RUN", run_payload(e, STEPS)) for e in ev]
    rng = np.random.default_rng(0)
    raw = exchange(BoardLink(params), good[0], DIV, 3000)
    (res,) = _answers(raw, layout)
    assert isinstance(res, Result) and _compare(0, res, gv[0], gc[0], gs[0], layout) == []
    assert res.cycles > 0
    for kind, code in (("crc", "CRC"), ("version", "VERSION"), ("length", "LENGTH"), ("type", "TYPE")):
        raw = exchange(BoardLink(params), bad_frame(kind, good[1], rng), DIV, 1500)
        ans = _answers(raw, layout)
        assert [a.name for a in ans] == [code], kind


def test_cut_frame_then_next_good_frame(small):
    g, x, layout, params, (gv, gc, gs) = small
    ev = layout.events(x, STEPS)
    good = frame("RUN", run_payload(ev[1], STEPS))
    dut = BoardLink(params)
    out = []

    async def host(ctx):
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(4 * DIV)
        for chunk, wait in ((good[:7], (GAP + 30) * DIV), (bytes([0x13, 0x77]), (GAP + 30) * DIV), (good, 4000)):
            for b in chunk:
                for level in [0] + [(b >> i) & 1 for i in range(8)] + [1]:
                    ctx.set(dut.rx, level)
                    await ctx.tick().repeat(DIV)
            await ctx.tick().repeat(wait)

    async def listen(ctx):
        while True:
            while ctx.get(dut.tx):
                await ctx.tick()
            await ctx.tick().repeat(DIV // 2)
            b = 0
            for i in range(8):
                await ctx.tick().repeat(DIV)
                b |= ctx.get(dut.tx) << i
            await ctx.tick().repeat(DIV)
            out.append(b)
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(host)
    sim.add_testbench(listen, background=True)
    sim.run()
    ans = _answers(bytes(out), layout)
    assert [a.name if isinstance(a, BoardError) else "RESULT" for a in ans] == ["CUT", "STRAY", "RESULT"], ans
    assert _compare(1, ans[-1], gv[1], gc[1], gs[1], layout) == []


def test_mutations_are_caught(small, monkeypatch):
    g, x, layout, params, (gv, gc, gs) = small
    good = frame("RUN", run_payload(layout.events(x, STEPS)[0], STEPS))
    raw = exchange(BoardLink(params), good, DIV, 3000)
    # a CRC bit of the answer
    bad = bytearray(raw)
    bad[-1] ^= 0x10
    with pytest.raises(BackendError):
        _answers(bytes(bad), layout)
    # a readout bit
    (res,) = _answers(raw, layout)
    res.readout = res.readout.copy()
    res.readout[0] ^= 1
    assert _compare(0, res, gv[0], gc[0], gs[0], layout)
    # the byte order of the board's multi-byte fields (big-endian instead of little)
    import hwsnn.rtl.board._link as link_mod
    real = link_mod.le_bytes
    monkeypatch.setattr(link_mod, "le_bytes", lambda v, n: real(v, n)[::-1])
    (res,) = _answers(exchange(BoardLink(params), good, DIV, 3000), layout)
    assert _compare(0, res, gv[0], gc[0], gs[0], layout)


def test_pll_settings_within_ranges():
    from hwsnn.rtl.board._pll import best_pll
    s = best_pll("ecp5", 25, 48.23)
    assert s.f_out <= 48.23 and abs(25 / s.get("CLKI_DIV") * s.get("CLKFB_DIV") - s.f_out) < 1e-6
    assert 400 <= s.f_out * s.get("CLKOP_DIV") <= 800
    s = best_pll("ice40", 12, 22.85)
    assert s.f_out == 22.5 and 533 <= 12 * (s.get("DIVF") + 1) / (s.get("DIVR") + 1) <= 1066
    assert best_pll("ice40", 12, 15) is None  # below the iCE40 PLL's 16 MHz: the oscillator stays


def test_fit_check_names_resource_and_board():
    from hwsnn.errors import MappingError
    from hwsnn.examples import load_digits_ir
    from hwsnn.mappings.rtl._board import fit_or_explain
    g = load_digits_ir()[0]
    with pytest.raises(MappingError, match=r"board icebreaker: ice40-up5k: .* does not fit: RAM needs at least "
                                           r"\d+ blocks .* \(\d+ over\); boards that fit: ulx3s-85f"):
        fit_or_explain(g, lower(g, lanes=1), "icebreaker")
