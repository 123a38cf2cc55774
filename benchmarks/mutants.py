"""The mutant list of benchmarks/mutation.py: one small fault each, and the tests that claim to
catch it.

where: the repository file; old -> new: an exact text replacement (old occurs once in the file);
change: what the fault does; tests: pytest arguments (files, node ids, -m/-k) run for it;
equivalent (optional): why the mutant cannot change any result, when that is so.
The first five are the faults issue 23 found getting through.
"""

SIM = ["tests/sim/test_golden.py", "tests/sim/test_scalar_reference.py", "tests/sim/test_settle_cap.py"]
VERIFY = ["tests/sim/test_verify_each_variable.py", "tests/sim/test_verify_strict.py", "-k", "not corrupted_oracle"]
RANGES = ["tests/compile/test_range_extremes.py", "tests/compile/test_ranges.py"]
ENERGY = ["tests/energy/test_negative_events.py", "tests/energy/test_count.py", "-k", "not across_executors"]
IRLOAD = ["tests/ir/test_loader_edges.py", "tests/ir/test_ir.py"]
ROUNDING = ["tests/compile/test_rounding.py"]
LAVA = ["tests/mappings/lava/test_lava_backend.py::test_random_net_matches_golden[{}-dense-1]",
        "tests/mappings/lava/test_lava_thresholds.py::test_lava_equals_golden_on_the_compare_edges[{}]"]


def _lava(kind):
    return [t.format(kind) for t in LAVA]
RTL = "tests/rtl/test_neuron.py::test_neuron_matches_golden[icarus-{}]"


def _m(where, old, new, change, tests, equivalent=None):
    out = {"where": where, "old": old, "new": new, "change": change, "tests": tests}
    if equivalent:
        out["equivalent"] = equivalent
    return out


MUTANTS = [
    # --- the five faults of issue 23 ---------------------------------------------------------
    _m("hwsnn/backends/_compare.py", "        diff = gold != theirs\n",
       "        diff = (gold != theirs) & (var != 'S')\n",
       "verify ignores S mismatches (counted as compared, not as mismatches)", VERIFY),
    _m("hwsnn/cluster/_shard.py", "if best is None or _key(div, order) < _key(best, order):",
       "if True:", "shard merge keeps the last shard's first divergence", ["tests/cluster/test_merge_order.py"]),
    _m("hwsnn/energy/_count.py", "v = np.abs(np.asarray(trace.y[c.src]).reshape(steps, batch, -1)) if per_step else None",
       "v = np.maximum(np.asarray(trace.y[c.src]).reshape(steps, batch, -1), 0) if per_step else None",
       "active updates skip -1 spikes (abs(y) -> max(y, 0))", ENERGY),
    _m("hwsnn/compile/_ranges.py", "vlo, vhi = _one_spike(v0, dlo, dhi, 0, th - 1)",
       "vlo, vhi = _one_spike(v0, dlo, dhi, 0, th - 2)",
       "ST-BIF bound after a down spike theta-1 -> theta-2", RANGES),
    _m("hwsnn/sim/_neurons.py", "    neg = 2 * V < -theta\n", "    neg = 2 * V <= -theta\n",
       "Ca-LIF settle rule that never settles (2V < -theta -> <=)", SIM),
    # --- the oracle's neuron rules (sim/_neurons.py) ------------------------------------------
    _m("hwsnn/sim/_neurons.py", "up = _ge1(V - (theta - 1)).mul_(_ge1(node.s_max - S))",
       "up = _ge1(V - theta).mul_(_ge1(node.s_max - S))", "ST-BIF fires at V > theta", SIM),
    _m("hwsnn/sim/_neurons.py", "down = _ge1(-V).mul_(_ge1(S - node.s_min))",
       "down = _ge1(-V + 1).mul_(_ge1(S - node.s_min))", "ST-BIF fires -1 at V <= 0", SIM),
    _m("hwsnn/sim/_neurons.py", "down = _ge1(-V).mul_(_ge1(S - node.s_min))",
       "down = _ge1(-V).mul_(_ge1(S - node.s_min + 1))", "ST-BIF -1 allowed at S = s_min", SIM),
    _m("hwsnn/sim/_neurons.py", "        up.mul_(_ge1(node.s_max - S))                        # and S < s_max",
       "        pass", "IF ignores s_max", SIM),
    _m("hwsnn/sim/_neurons.py", "            V = V + st[\"bias\"].to(st[\"dtype\"])",
       "            V = V - st[\"bias\"].to(st[\"dtype\"])", "iLIF bias subtracted", SIM),
    _m("hwsnn/sim/_neurons.py", "        y = (V >= st[\"theta\"]).to(st[\"dtype\"])",
       "        y = (V > st[\"theta\"]).to(st[\"dtype\"])", "iLIF generate fires at 2V > theta", SIM),
    _m("hwsnn/sim/_neurons.py", "    V = V0 + I - st[\"leak\"]", "    V = V0 + I + st[\"leak\"]", "Ca-LIF leak added", SIM),
    _m("hwsnn/sim/_neurons.py", "    neg = V <= -theta\n", "    neg = V < -theta\n", "Ca-LIF window -1 at V < -theta", SIM),
    _m("hwsnn/sim/_neurons.py", "        neg &= S0 > 0", "        neg &= S0 >= 0", "Ca-LIF gate lets S go below 0", SIM),
    _m("hwsnn/sim/_neurons.py", "    pos = 2 * V >= theta\n", "    pos = 2 * V > theta\n", "Ca-LIF settle +1 at 2V > theta", SIM),
    _m("hwsnn/sim/_neurons.py", "        V0.add_(I)\n", "        V0.add_(I * 2)\n", "readout integrates 2I", SIM),
    # --- the oracle's synapse rules and input release (sim/_ops.py, sim/_encode.py) ----------
    _m("hwsnn/sim/_ops.py", "return _exp(conv(x, self.weight(dtype), stride=node.stride, padding=node.padding,",
       "return _exp(conv(x, self.weight(dtype).flip(-1), stride=node.stride, padding=node.padding,",
       "Conv2d kernel flipped (correlation -> convolution)", SIM),
    _m("hwsnn/sim/_ops.py", "return conv(x, self._weights[key], stride=node.stride, padding=(0, 0), groups=c)",
       "return conv(x, self._weights[key], stride=node.kernel, padding=(0, 0), groups=c)",
       "SumPool2d uses its kernel as stride", SIM),
    _m("hwsnn/sim/_ops.py", "            return x * self.weight(dtype)", "            return x * self.weight(dtype).abs()",
       "Scale drops the sign of its weight", SIM),
    _m("hwsnn/sim/_encode.py", "return torch.div((t + 1) * q, R, rounding_mode=\"floor\") - torch.div(t * q, R, rounding_mode=\"floor\")",
       "return torch.div((t + 1) * q, R, rounding_mode=\"trunc\") - torch.div(t * q, R, rounding_mode=\"trunc\")",
       "release rounds toward zero (negative inputs released unevenly)", SIM),
    _m("hwsnn/sim/_encode.py", "    return (q >> (node.T - 1 - t)) & 1", "    return (q >> t) & 1",
       "bits source sends LSB first", SIM),
    # --- verify (hwsnn/backends/_compare.py) --------------------------------------------------
    _m("hwsnn/backends/_compare.py", "            key = (step, order.get(node, len(order)), VARIABLES.index(var))",
       "            key = (order.get(node, len(order)), step, VARIABLES.index(var))",
       "first divergence ordered by node before step", VERIFY),
    _m("hwsnn/backends/_compare.py", "        result.mismatches += n_bad\n", "        result.mismatches += min(n_bad, 1)\n",
       "at most one mismatch counted per variable", VERIFY),
    _m("hwsnn/backends/_compare.py", "        for m in masks:\n            diff &= m\n",
       "        for m in masks[:1]:\n            diff &= m\n", "only golden's validity mask applied", VERIFY),
    _m("hwsnn/backends/_compare.py", "    if arr.dtype.kind not in \"iu\":", "    if arr.dtype.kind not in \"iuf\":",
       "float arrays accepted", VERIFY),
    _m("hwsnn/backends/_compare.py", "    last = lambda idx: (golden.steps - 1, int(idx[0]), tuple(int(i) for i in idx[1:]))",
       "    last = lambda idx: (golden.steps, int(idx[0]), tuple(int(i) for i in idx[1:]))",
       "read-back divergence placed one step late", VERIFY),
    # --- the range analysis (hwsnn/compile/_ranges.py, _intervals.py) -------------------------
    _m("hwsnn/compile/_ranges.py", "    lo = np.minimum(v0 + dlo, a_lo + dlo - dhi)",
       "    lo = np.minimum(v0 + dlo, a_lo + dlo)", "one-spike lower bound forgets the swing", RANGES),
    _m("hwsnn/compile/_ranges.py", "    vlo = np.maximum(vlo, v0 + dlo - shi * th)",
       "    vlo = np.maximum(vlo, v0 + dlo - shi * th + 1)", "identity lower bound one too high", RANGES),
    _m("hwsnn/compile/_ranges.py", "    vhi = np.minimum(vhi, v0 + dhi - slo * th)",
       "    vhi = np.minimum(vhi, v0 + dhi - slo * th - 1)", "identity upper bound one too low", RANGES),
    _m("hwsnn/compile/_ranges.py", "        dlo, dhi = zlo + np.minimum(b, 0), zhi + np.maximum(b, 0)\n        if isinstance(node, ir.STBIF):",
       "        dlo, dhi = zlo, zhi + np.maximum(b, 0)\n        if isinstance(node, ir.STBIF):",
       "ST-BIF/IF drive ignores a negative bias", RANGES),
    _m("hwsnn/compile/_ranges.py", "vlo, vhi = _one_spike(v0, dlo, dhi, -(th // 2), (th - 1) // 2)",
       "vlo, vhi = _one_spike(v0, dlo, dhi, -(th // 2) + 1, (th - 1) // 2)",
       "Ca-LIF settle lower residue one too high", RANGES),
    _m("hwsnn/compile/_ranges.py", "dlo, dhi = zlo - node.T * np.maximum(leak, 0), zhi - node.T * np.minimum(leak, 0)",
       "dlo, dhi = zlo - node.T * np.maximum(leak, 0), zhi", "Ca-LIF drive ignores a negative leak", RANGES),
    _m("hwsnn/compile/_ranges.py", "slo, shi = 0, node.s_max if node.s_max > 0 else np.ceil((v0 + dhi - vlo) / th)",
       "slo, shi = 0, node.s_max if node.s_max > 0 else np.floor((v0 + dhi - vlo) / th) - 1",
       "IF without s_max: derived S bound too low", RANGES),
    _m("hwsnn/compile/_ranges.py", "return (2.0 ** node.T) * np.minimum(alo, 0), (2.0 ** node.T) * np.maximum(ahi, 0), 0, 2 ** node.T - 1",
       "return (2.0 ** node.T) * np.minimum(alo, 0), (2.0 ** (node.T - 1)) * np.maximum(ahi, 0), 0, 2 ** node.T - 1",
       "iLIF upper bound halved", RANGES),
    _m("hwsnn/compile/_intervals.py", "        return min(qlo, 0), max(qhi, 0)", "        return qlo, qhi",
       "analog source interval forgets partial releases (0)", RANGES),
    _m("hwsnn/compile/_intervals.py", "        return np.minimum(w * lo, w * hi), np.maximum(w * lo, w * hi)",
       "        return w * lo, w * hi", "Scale interval wrong for negative weights", RANGES),
    # --- the compiler's rounding (hwsnn/compile) ----------------------------------------------
    _m("hwsnn/compile/_weights.py", "        out[r:r + rows] = np.rint(block, out=block)",
       "        out[r:r + rows] = np.floor(block, out=block)", "weights rounded down instead of to nearest",
       ROUNDING),
    _m("hwsnn/compile/_weights.py", "        out = np.rint(w.astype(np.float64) * k).astype(np.int64)  # verify names the layer",
       "        out = np.trunc(w.astype(np.float64) * k).astype(np.int64)  # verify names the layer",
       "wide weights truncated instead of rounded", ROUNDING),
    _m("hwsnn/compile/_integerize.py", "    q = np.floor(b_int / n + 0.5).astype(np.int64)",
       "    q = np.floor(b_int / n).astype(np.int64)", "bias split rounds down instead of half up", ROUNDING),
    # --- the IR loader rules (hwsnn/ir) --------------------------------------------------------
    _m("hwsnn/ir/_header.py", "if not is_int(e[\"delay\"]) or e[\"delay\"] not in (0, 1):",
       "if not is_int(e[\"delay\"]) or e[\"delay\"] not in (0, 1, 2):", "loader accepts delay 2", IRLOAD),
    _m("hwsnn/ir/_header.py", "        if key in keys_used:\n", "        if False:\n",
       "loader accepts one array key used twice", IRLOAD),
    _m("hwsnn/ir/_header.py", "        if not is_int(bits) or bits != width:", "        if not is_int(bits):",
       "loader accepts arrays declaring other bits than the node", IRLOAD),
    _m("hwsnn/ir/_format.py", "    if not fits(arr, bits):", "    if not fits(arr, bits + 1):",
       "loader accepts array values one bit too wide", IRLOAD),
    _m("hwsnn/ir/_bits.py", "    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1",
       "    return -(1 << (bits - 1)), (1 << (bits - 1))", "int range one too wide at the top",
       IRLOAD + ["tests/ir/test_count_widths.py"]),
    # --- the energy counts (hwsnn/energy/_count.py) -------------------------------------------
    _m("hwsnn/energy/_count.py", "                touched |= np.asarray(trace.y[name]).reshape(steps, batch, n) != 0",
       "                touched |= np.asarray(trace.y[name]).reshape(steps, batch, n) > 0",
       "a neuron that fires -1 is not counted active", ENERGY),
    _m("hwsnn/energy/_count.py", "                    macs += ((e != 0).astype(np.int64) @ c.fanout).sum(axis=0)",
       "                    macs += ((e > 0).astype(np.int64) @ c.fanout).sum(axis=0)",
       "negative input values cost no MAC", ENERGY),
    _m("hwsnn/energy/_count.py", "                    value_sops += (np.abs(e) @ c.fanout).sum(axis=0)",
       "                    value_sops += (e @ c.fanout).sum(axis=0)",
       "input-value SOPs signed (negative values subtract)", ENERGY),
    _m("hwsnn/energy/_count.py", "                v = np.abs(e)\n", "                v = np.maximum(e, 0)\n",
       "negative input values activate nothing", ENERGY),
    _m("hwsnn/sim/_step.py", "                self.spikes[n].add_(y.abs())", "                self.spikes[n].add_(y)",
       "the oracle's spike totals signed (a -1 spike cancels a +1)", ENERGY),
    # --- the Lava process models (mappings/lava/procs/neurons.py) -----------------------------
    _m("hwsnn/mappings/lava/procs/neurons.py", "            - ((V < 0) & (self.s > p[\"s_min\"])).astype(np.int64)",
       "            - ((V <= 0) & (self.s > p[\"s_min\"])).astype(np.int64)", "Lava ST-BIF -1 at V <= 0",
       _lava("STBIF")),
    _m("hwsnn/mappings/lava/procs/neurons.py", "        fire = V >= p[\"theta\"]\n", "        fire = V > p[\"theta\"]\n",
       "Lava IF fires at V > theta", _lava("IF")),
    _m("hwsnn/mappings/lava/procs/neurons.py", "            y = (V >= p[\"theta\"]).astype(np.int64)",
       "            y = (V > p[\"theta\"]).astype(np.int64)", "Lava iLIF generate at 2V > theta",
       _lava("ILIF")),
    _m("hwsnn/mappings/lava/procs/neurons.py", "return self._fire(V, 2 * V >= self.p[\"theta\"], 2 * V < -self.p[\"theta\"])",
       "return self._fire(V, 2 * V > self.p[\"theta\"], 2 * V < -self.p[\"theta\"])",
       "Lava Ca-LIF settle +1 at 2V > theta", _lava("CaLIF")),
    # --- the RTL neuron datapath (rtl/_neuron.py) ---------------------------------------------
    _m("hwsnn/rtl/_neuron.py", "            neg = (vp < 0) & (s > self.s_min)", "            neg = (vp <= 0) & (s > self.s_min)",
       "RTL ST-BIF -1 at V' <= 0", [RTL.format("stbif-small")]),
    _m("hwsnn/rtl/_neuron.py", "                neg = vp <= -theta", "                neg = vp < -theta",
       "RTL Ca-LIF window -1 at V' < -theta", [RTL.format("calif")]),
]
