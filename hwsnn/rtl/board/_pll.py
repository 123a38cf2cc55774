"""PLL settings and instances: ECP5 EHXPLLL and iCE40 SB_PLL40_PAD, searched in Python within the
devices' documented ranges (Lattice TN1263 for ECP5, the iCE40 sysCLOCK PLL guide; the same
limits yowasp-ecppll / yowasp-icepll use). `best_pll(family, f_in, f_max)` gives the highest
output clock <= f_max that a setting makes exactly, with its parameters."""

from dataclasses import dataclass

from amaranth.hdl import Instance

from hwsnn.errors import MappingError

__all__ = ["PllSetting", "best_pll", "pll_instance"]


@dataclass(frozen=True)
class PllSetting:
    family: str
    f_in: float
    f_out: float
    params: tuple   # ((name, value), ...)

    def get(self, name):
        return dict(self.params)[name]


def _ecp5(f_in, f_max):
    best = None
    for clki in range(1, 129):
        pfd = f_in / clki
        if not 3.125 <= pfd <= 400:
            continue
        for fb in range(1, 81):
            f_out = pfd * fb
            if f_out > f_max or f_out < 10:
                continue
            for op in range(1, 129):
                vco = f_out * op
                if 400 <= vco <= 800:
                    cand = (f_out, -abs(vco - 600), (("CLKI_DIV", clki), ("CLKFB_DIV", fb), ("CLKOP_DIV", op)))
                    if best is None or cand[:2] > best[:2]:
                        best = cand
                    break
    return best


def _ice40(f_in, f_max):
    best = None
    for divr in range(16):
        pfd = f_in / (divr + 1)
        if not 10 <= pfd <= 133:
            continue
        for divf in range(128):
            vco = pfd * (divf + 1)
            if not 533 <= vco <= 1066:
                continue
            for divq in range(1, 7):
                f_out = vco / (1 << divq)
                if 16 <= f_out <= min(f_max, 275):
                    filt = next(i + 1 for i, hi in enumerate((17, 26, 44, 66, 101, 1e9)) if pfd < hi)
                    cand = (f_out, 0, (("DIVR", divr), ("DIVF", divf), ("DIVQ", divq), ("FILTER_RANGE", filt)))
                    if best is None or cand[0] > best[0]:
                        best = cand
    return best


def best_pll(family, f_in, f_max):
    """PllSetting of the highest output <= f_max (MHz), or None when no setting reaches it."""
    if family not in ("ecp5", "ice40"):
        raise MappingError(f"PLL family must be 'ecp5' or 'ice40', not {family!r}")
    found = (_ecp5 if family == "ecp5" else _ice40)(f_in, f_max)
    return None if found is None else PllSetting(family, f_in, round(found[0], 6), found[2])


def pll_instance(setting, clk_in, clk_out, locked):
    """The Instance of `setting`: clk_in (a Signal, or the iCE40 pad's port), clk_out, locked."""
    p = dict(setting.params)
    if setting.family == "ecp5":
        return Instance(
            "EHXPLLL",
            a_FREQUENCY_PIN_CLKI=f"{setting.f_in:g}", a_FREQUENCY_PIN_CLKOP=f"{setting.f_out:g}",
            a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1", a_MFG_GMCREF_SEL="2",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_OUTDIVIDER_MUXB="DIVB",
            p_OUTDIVIDER_MUXC="DIVC", p_OUTDIVIDER_MUXD="DIVD", p_CLKOP_ENABLE="ENABLED",
            p_CLKOP_DIV=p["CLKOP_DIV"], p_CLKOP_CPHASE=p["CLKOP_DIV"] - 1, p_CLKOP_FPHASE=0,
            p_FEEDBK_PATH="CLKOP", p_CLKFB_DIV=p["CLKFB_DIV"], p_CLKI_DIV=p["CLKI_DIV"],
            i_CLKI=clk_in, i_CLKFB=clk_out, i_RST=0, i_STDBY=0, i_PHASESEL0=0, i_PHASESEL1=0,
            i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1, i_PLLWAKESYNC=0, i_ENCLKOP=0,
            o_CLKOP=clk_out, o_LOCK=locked)
    return Instance(
        "SB_PLL40_PAD",
        p_FEEDBACK_PATH="SIMPLE", p_DIVR=p["DIVR"], p_DIVF=p["DIVF"], p_DIVQ=p["DIVQ"],
        p_FILTER_RANGE=p["FILTER_RANGE"],
        i_PACKAGEPIN=clk_in, i_RESETB=1, i_BYPASS=0, o_PLLOUTGLOBAL=clk_out, o_LOCK=locked)
