"""The neuron core's memories and their ports.

Per lane: V (accumulator width), S, P (Ca-LIF settle input), W (weights), theta and v0; with
`cfg.pack_lanes` W and S are one memory each whose word holds every lane side by side. A
theta or v0 that is one value on every real neuron of a lane is a constant, no memory.

`MemoryPorts` is the one set of port decisions of a core (read/write address, enables, write
data source), taken by every lane's ports: the phases of `NeuronCore` drive these decisions.
"""

from amaranth.hdl import Array, Cat, Const, Mux, Signal, signed, unsigned
from amaranth.lib.memory import Memory

from ._rom import ram_ports, rom_read_port

__all__ = ["packed_memories", "packed_image", "lane_memories", "MemoryPorts", "select"]


def ubits(n):
    return max(1, (int(n) - 1).bit_length())


def packed_memories(cfg):
    """Names of the memories that hold every lane in one word ("w", "s"), see `lane_memories`."""
    if not cfg.pack_lanes or cfg.lanes < 2:
        return ()
    return ("w", "s") if cfg.kind != "readout" else ("w",)


class _LaneView:
    """One lane's field of a packed memory port: `addr`, `en` are the shared port's, `data` is
    the lane's slice (signed)."""

    def __init__(self, port, lane, bits, write=False):
        self.addr, self.en = port.addr, port.en
        self.data = port.data[lane * bits:(lane + 1) * bits]
        if not write:
            self.data = self.data.as_signed()


def packed_image(image, lanes, bits):
    """Words of a packed memory: lane l's `image(l)[a]` (two's complement) in bits l*bits ..
    (l+1)*bits - 1 of word a."""
    imgs = [image(lane) for lane in range(lanes)]
    mask = (1 << bits) - 1
    return [sum((int(img[a]) & mask) << (lane * bits) for lane, img in enumerate(imgs))
            for a in range(min(len(img) for img in imgs))]


class _ConstRead:
    """Read port of a parameter that is one value on every real neuron of a lane
    (`CoreConfig.param_constant`): the value itself, no memory; addr and en go nowhere."""

    def __init__(self, value, bits):
        self.addr, self.en = Signal(16), Signal(init=1)
        self.data = Const(value, signed(bits))


def select(values, index):
    """values[index]: one constant when every entry is the same constant; a Mux chain when all
    are constants (Icarus never evaluates an `always @*` case over constants whose selector has
    not changed since time 0, so an Array of constants reads X at index 0); else an Array."""
    if all(isinstance(v, Const) for v in values):
        if len({v.value for v in values}) == 1:
            return values[0]
        out = values[-1]
        for k in range(len(values) - 2, -1, -1):
            out = Mux(index == k, values[k], out)
        return out
    return Array(values)[index]


def _packed_memory(m, key, bits, depth, images, write=False, rom=None, stem=None):
    """A memory of depth `depth` whose word is the lanes' `bits`-wide values side by side, with
    a read port (and a write port the read is transparent for). Returns (read, write, bits).
    With `rom` an `hwsnn_rom` loaded from image file `stem` (read-only), or an `hwsnn_ram`
    without initial contents (read-write: INIT writes every address)."""
    if rom is not None and rom.rams and write:
        rd, wr = ram_ports(m, f"{key}_mem", unsigned(bits * len(images)), depth)
        return rd, wr, bits
    if rom is not None and not write:
        n = min(len(img) for img in images)  # as packed_image: the shortest lane's length
        return rom_read_port(m, rom, f"{key}_mem", stem, [img[:n] for img in images], bits, depth,
                             is_signed=False), None, bits
    init = packed_image(lambda lane: images[lane], len(images), bits)
    mem = m.submodules[f"{key}_mem"] = Memory(shape=unsigned(bits * len(images)), depth=depth, init=init)
    wr = mem.write_port() if write else None
    rd = mem.read_port(transparent_for=(wr,)) if write else mem.read_port()
    return rd, wr, bits


def lane_memories(m, cfg, rom=None):
    """(per lane {port name: port}, shared packed memories {key: (read, write, bits)}). With
    `cfg.pack_lanes` (and lanes > 1) the weight and S memories are one memory each whose word
    holds every lane (lane l in bits l*w .. l*w + w - 1): all lanes read one address at once; a
    lane's port is then a `_LaneView`. With `rom` (a `_rom.RomFiles`) the read-only memories
    (W, v0, theta, cbias) are `hwsnn_rom` instances loaded from image files, and the
    read-write ones (V, S, P, u) `hwsnn_ram` instances without initial contents: no inline inits."""
    G = cfg.groups
    depth = max(2, G)
    packed = packed_memories(cfg)
    lanes, shared = [], {}
    if "w" in packed:
        imgs = [cfg.weight_image(lane) for lane in range(cfg.lanes)]
        shared["w"] = _packed_memory(m, "w", cfg.w_bits, max(2, len(imgs[0])), imgs, rom=rom, stem=f"{cfg.name}.w")
    if "s" in packed:
        shared["s"] = _packed_memory(m, "s", cfg.s_bits, depth, [[] for _ in range(cfg.lanes)], write=True,
                                     rom=rom)
    for lane in range(cfg.lanes):
        wimg = cfg.weight_image(lane) if "w" not in packed else []
        v0img = [int(v) for v in cfg.param_image(lane, "v0")]
        if cfg.per_channel:  # theta and v0 once per channel group
            pdepth = max(2, cfg.cgroups)
            v0p = [int(v) for v in cfg.channel_image(lane, cfg.v0)]
            thp = [int(v) for v in cfg.channel_image(lane, cfg.theta)]
        else:
            pdepth, v0p = depth, v0img
            thp = [int(v) for v in cfg.param_image(lane, "theta")]
        consts = {"v0": (cfg.param_constant(lane, "v0"), cfg.v_bits)}
        mems = {"v": _MemSpec(signed(cfg.acc_bits), depth, v0img)}
        if consts["v0"][0] is None:
            mems["v0"] = _MemSpec(signed(cfg.v_bits), pdepth, v0p)
        if "w" not in packed:
            mems["w"] = _MemSpec(signed(cfg.w_bits), max(2, len(wimg)), wimg)
        if cfg.kind != "readout":
            if "s" not in packed:
                mems["s"] = _MemSpec(signed(cfg.s_bits), depth, [])
            consts["theta"] = (cfg.param_constant(lane, "theta"), cfg.theta_bits)
            if consts["theta"][0] is None:
                mems["theta"] = _MemSpec(signed(cfg.theta_bits), pdepth, thp)
        if cfg.has_p:
            mems["p"] = _MemSpec(signed(cfg.p_bits), depth, [])
        if cfg.kind == "cubalif":  # u, and the bias as a constant or a parameter memory
            mems["u"] = _MemSpec(signed(cfg.u_bits), depth, [])
            consts["cbias"] = (cfg.param_constant(lane, "cbias"), cfg.cbias_bits)
            if consts["cbias"][0] is None:
                img = cfg.channel_image(lane, cfg.cbias) if cfg.per_channel else cfg.param_image(lane, "cbias")
                mems["cbias"] = _MemSpec(signed(cfg.cbias_bits), pdepth, [int(v) for v in img])
        ports = {}
        for key, spec in mems.items():
            if rom is not None and key in _ROM_STEMS:  # read-only: from an image file
                stem = f"{cfg.name}.{_ROM_STEMS[key]}{lane}"
                ports[f"{key}r"] = rom_read_port(m, rom, f"{key}_mem{lane}", stem, [spec.init],
                                                 spec.shape.width, spec.depth)
                continue
            if rom is not None and rom.rams and key in _RAM_KEYS:  # read-write: INIT writes every address
                ports[f"{key}r"], ports[f"{key}w"] = ram_ports(m, f"{key}_mem{lane}", spec.shape, spec.depth)
                continue
            mem = Memory(shape=spec.shape, depth=spec.depth, init=[int(v) for v in spec.init])
            m.submodules[f"{key}_mem{lane}"] = mem
            if key in _RAM_KEYS:
                ports[f"{key}w"] = mem.write_port()
                ports[f"{key}r"] = mem.read_port(transparent_for=(ports[f"{key}w"],))
            else:
                ports[f"{key}r"] = mem.read_port()
        for key, (value, bits) in consts.items():
            if value is not None:
                ports[f"{key}r"] = _ConstRead(value, bits)
        for key, (rd, wr, bits) in shared.items():
            ports[f"{key}r"] = _LaneView(rd, lane, bits)
            if wr is not None:
                ports[f"{key}w"] = _LaneView(wr, lane, bits, write=True)
        lanes.append(ports)
    return lanes, shared


class _MemSpec:
    """shape, depth, init of a memory not built yet (a ROM image needs no Memory object)."""

    def __init__(self, shape, depth, init):
        self.shape, self.depth, self.init = shape, depth, init


_RAM_KEYS = ("v", "s", "p", "u")  # read-write: V = v0, S = 0, P = 0, u = 0 written by INIT
_ROM_STEMS = {"w": "w", "v0": "v0_", "theta": "theta", "cbias": "cbias"}  # as `emit.memory_images` names them


class MemoryPorts:
    """One decision per core, each lane's port only takes it (a per-lane copy of every state
    mux made Verilator evaluate it L times per cycle). A memory is read only in a cycle whose
    data is used (an idle core reads nothing: less power, and Verilator skips the reads: -11%
    instructions on the digits net)."""

    def __init__(self, cfg):
        gbits, L = ubits(cfg.groups), cfg.lanes
        raddr, ren = Signal(gbits), Signal()      # V, P read: ACC issue_addr (en: an issue), FIRE f_g (en: ~stall)
        fren, wren = Signal(), Signal()            # S, theta read (FIRE: ~stall); W read (ACC: an issue)
        v0en = Signal()                            # v0 read (INIT: an address to initialise)
        waddr = Signal(gbits)                      # V, S, P write: INIT i1_g, ACC a1_addr, FIRE f1_g
        wen_v, wen_s, wen_p = Signal(), Signal(), Signal()  # INIT and ACC: every lane at once
        lane_we = Signal(L)                        # FIRE: the one lane written this cycle (one-hot)
        v_src = Signal(2)                          # V write data: 0 v_out (FIRE), 1 v0 (INIT), 2 V + W*x (ACC)
        s_wdata = Signal(signed(cfg.s_bits))       # S write data: 0 (INIT), s_out (FIRE)
        in_fire, group_we = Signal(), Signal()    # FIRE; the write of a packed S word (its last lane)
        self.raddr, self.ren, self.fren, self.wren, self.v0en, self.waddr = raddr, ren, fren, wren, v0en, waddr
        self.wen_v, self.wen_s, self.wen_p, self.lane_we, self.v_src = wen_v, wen_s, wen_p, lane_we, v_src
        self.s_wdata, self.in_fire, self.group_we = s_wdata, in_fire, group_we

    def connect(self, m, cfg, lanes, shared, walk, init, scan, unit):
        """Every lane's ports: V, P, W at the accumulate walk's addresses (`walk`), v0 at the
        init walk's (`init`), S and theta at the fire scan's (`scan`); V, S written with the
        fire unit's (`unit`) new state, or v0, or V + W*x."""
        pc, xb, a1_val = cfg.per_channel, cfg.x_bits, walk.a1_val
        for lane, p in enumerate(lanes):
            w = p["wr"].data
            if xb == 2 and cfg.in_bound <= 1:  # spikes: the product is a choice of +w, -w, 0
                # (an analog 2-bit Source also sends -2: it takes the multiply)
                prod = Mux(a1_val == 1, w, Mux(a1_val == -1, -w, 0))
            else:
                prod = w * a1_val
            m.d.comb += [p["wr"].addr.eq(walk.w_addr), p["wr"].en.eq(self.wren),
                         p["v0r"].addr.eq(init.i_cg if pc else init.i_g), p["v0r"].en.eq(self.v0en),
                         p["vr"].addr.eq(self.raddr), p["vr"].en.eq(self.ren), p["vw"].addr.eq(self.waddr),
                         p["vw"].en.eq(self.wen_v | self.lane_we[lane]),
                         p["vw"].data.eq(Mux(self.v_src[1], p["vr"].data + prod,
                                             Mux(self.v_src[0], p["v0r"].data, unit.v_out)))]
            if "sr" in p:
                m.d.comb += [p["sr"].addr.eq(scan.f_g), p["thetar"].addr.eq(scan.f_cg if pc else scan.f_g),
                             p["sr"].en.eq(self.fren), p["thetar"].en.eq(self.fren)]
                if "s" not in shared:
                    m.d.comb += [p["sw"].addr.eq(self.waddr), p["sw"].data.eq(self.s_wdata),
                                 p["sw"].en.eq(self.wen_s | self.lane_we[lane])]
            if cfg.has_p:  # absorb (cubalif: every fire write): P of the lane's neuron is cleared as V takes it
                clear = unit.m_absorb if cfg.kind != "cubalif" else 1
                m.d.comb += [p["pr"].addr.eq(self.raddr), p["pr"].en.eq(self.ren), p["pw"].addr.eq(self.waddr),
                             p["pw"].data.eq(Mux(self.v_src[1], p["pr"].data + prod, 0)),
                             p["pw"].en.eq(self.wen_p | (self.lane_we[lane] & clear))]
            if cfg.kind == "cubalif":  # u: 0 (INIT), the fire unit's u (FIRE); bias read as theta
                m.d.comb += [p["ur"].addr.eq(self.raddr), p["ur"].en.eq(self.ren), p["uw"].addr.eq(self.waddr),
                             p["uw"].data.eq(Mux(self.in_fire, unit.u_out, 0)),
                             p["uw"].en.eq(self.wen_v | self.lane_we[lane]),
                             p["cbiasr"].addr.eq(scan.f_cg if pc else scan.f_g), p["cbiasr"].en.eq(self.fren)]
        if "s" in shared:  # INIT: every lane 0; FIRE: the held word, written with its last lane
            wr = shared["s"][1]
            word = _fire_group(m, cfg.lanes, shared["s"][2], "s", unit.s_out, [p["sr"].data for p in lanes],
                               scan.f1_valid, scan.f1_l, self.in_fire & scan.f1_slot & ~unit.stall)
            m.d.comb += [wr.addr.eq(self.waddr), wr.en.eq(self.wen_s | self.group_we),
                         wr.data.eq(Mux(self.in_fire, word, 0))]


def _fire_group(m, L, bits, key, new, old, f1_valid, f1_l, advance):
    """Fire write-back of packed memory `key`: the slots of address g come lane by lane, so
    the new values of lanes 0 .. L-2 wait in registers (a padding lane keeps the word read
    at g) and the whole word is written with the last lane. Nothing reads g in between:
    the fire pass reads each address once, ahead of its write-back. Returns the word."""
    new_now = Mux(f1_valid, new, Array(old)[f1_l])
    held = [Signal(signed(bits), name=f"{key}_held{lane}") for lane in range(L - 1)]
    with m.If(advance):
        for lane in range(L - 1):
            with m.If(f1_l == lane):
                m.d.sync += held[lane].eq(new_now)
    return Cat(*held, new_now[:bits])
