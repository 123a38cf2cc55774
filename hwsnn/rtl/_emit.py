"""Verilog emission: the network's Verilog, each core's Verilog, memory images, a manifest.

A thin wrapper around `amaranth.back.verilog.convert`. Every file is written atomically
(temporary file, then rename). Memory images are `$readmemh` text: one word per line, two's
complement, ceil(width / 4) hex digits. The Verilog already carries the same images as
initial values; the .hex files are for other flows and for inspection.
"""

import hashlib
import json
import os
from pathlib import Path

from ._core import NeuronCore, packed_image, packed_memories, row_decode, row_table
from ._network import Network
from ._rom import _wide_hex, hex_image

__all__ = ["emit_verilog", "memory_images", "write_atomic", "emit_network"]


def write_atomic(path, text):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def emit_verilog(component, name):
    from amaranth.back import verilog
    return verilog.convert(component, name=name, emit_src=False)


def _hex(values, width):
    """`$readmemh` text of `values` (the simulation's image format, `_rom`), one word per line."""
    values = list(values) if not hasattr(values, "__len__") else values
    if width <= 62:
        return hex_image([values], width, len(values)).decode()
    return _wide_hex(values, width, len(values)).decode()


def memory_images(cfg):
    """{file stem: (width, values)} of every memory of core `cfg`, lane by lane (none for a
    theta or v0 the lane holds as a constant, `CoreConfig.param_constant`)."""
    out = {}
    if cfg.conv is not None and row_decode(cfg) is None:  # the input-row ROM (see _rows.row_table)
        _, widths, words = row_table(cfg)
        out[f"{cfg.name}.rows"] = (sum(widths), words)
    packed = "w" in packed_memories(cfg)
    if packed:  # one weight memory, lane l in bits l*w_bits .. (l+1)*w_bits - 1 of each word
        out[f"{cfg.name}.w"] = (cfg.w_bits * cfg.lanes, packed_image(cfg.weight_image, cfg.lanes, cfg.w_bits))
    for lane in range(cfg.lanes):
        if not packed:
            out[f"{cfg.name}.w{lane}"] = (cfg.w_bits, cfg.weight_image(lane))
        pc = cfg.per_channel  # theta and v0 once per channel group, where the core holds a memory
        if cfg.param_constant(lane, "v0") is None:
            out[f"{cfg.name}.v0_{lane}"] = (cfg.v_bits, cfg.channel_image(lane, cfg.v0) if pc
                                            else cfg.param_image(lane, "v0"))
        if cfg.kind != "readout" and cfg.param_constant(lane, "theta") is None:
            out[f"{cfg.name}.theta{lane}"] = (cfg.theta_bits, cfg.channel_image(lane, cfg.theta) if pc
                                              else cfg.param_image(lane, "theta"))
        if cfg.kind == "cubalif" and cfg.param_constant(lane, "cbias") is None:
            out[f"{cfg.name}.cbias{lane}"] = (cfg.cbias_bits, cfg.channel_image(lane, cfg.cbias) if pc
                                              else cfg.param_image(lane, "cbias"))
    return out


def _safe(name):
    return "".join(ch if ch.isalnum() or ch in "_-." else "_" for ch in str(name))


def emit_network(rtl_net, out_dir, name="hwsnn_network", cores=True):
    """Write `<name>.v` (the whole network), `core<k>_<node>.v` (each core alone, if `cores`),
    `mem/<node>.<memory><lane>.hex` and `manifest.json` into `out_dir`. Returns the paths."""
    out_dir = Path(out_dir)
    files = {f"{name}.v": emit_verilog(Network(rtl_net.cores), name)}
    for k, cfg in enumerate(rtl_net.cores):
        if cores:
            files[f"core{k}_{_safe(cfg.name)}.v"] = emit_verilog(NeuronCore(cfg), f"hwsnn_core{k}")
        for stem, (width, values) in memory_images(cfg).items():
            files[f"mem/{_safe(stem)}.hex"] = _hex(values, width)
    manifest = {"top": name, "delay": rtl_net.meta.get("delay", 1), "source": rtl_net.source,
                "cores": rtl_net.summary(),
                "files": {p: hashlib.sha256(t.encode()).hexdigest() for p, t in sorted(files.items())}}
    files["manifest.json"] = json.dumps(manifest, indent=1, sort_keys=True, default=int) + "\n"
    return [write_atomic(out_dir / p, t) for p, t in files.items()]
