"""`run_on_board`: stream samples to a board (or its simulation), compare every answer with the
golden simulator, report images/s and mismatches.

The board's data come from the IR alone (hwsnn.mappings.rtl: core configs, source events);
the expected answers from hwsnn.sim on the graph the RTL computes (every edge delay 1):
the readout's V after the last step, its argmax (first maximum), and per spiking core the sum
of |y| over neurons and steps.
"""

import time

import numpy as np

from hwsnn.errors import BackendError

from hwsnn.rtl.board._protocol import HEADER, result_length

from ._frames import BoardError, Info, Result, frame, parse_payload, run_payload
from ._host import Host, bad_frame

__all__ = ["run_on_board", "Layout", "golden_answers"]


class Layout:
    """What the host needs to know of the lowered network (lanes do not change it)."""

    def __init__(self, graph):
        from hwsnn.mappings.rtl import DELAY, lower
        from hwsnn.mappings.rtl._board import design_id
        net = lower(graph, lanes=1)
        self.graph, self.source, self.delay = net.graph, net.source, DELAY
        self.readout = next(n for n, c in zip(net.nodes, net.cores) if c.kind == "readout")
        self.spiking = [n for n, c in zip(net.nodes, net.cores) if c.kind != "readout"]
        self.n_out = int(np.prod(net.graph.nodes[self.readout].shape))
        self.n_src = int(np.prod(net.graph.nodes[self.source].shape))
        self.design_id = design_id(graph)

    def events(self, x, steps):
        """Per sample, its (step, index, value) rows (hwsnn.mappings.rtl's IR encoding rules)."""
        from hwsnn.mappings.rtl._images import source_events
        ev = source_events(self.graph.nodes[self.source], x, steps, delay=self.delay)
        cut = np.searchsorted(ev[:, 0], np.arange(len(x) + 1))
        return [ev[cut[b]:cut[b + 1], 1:] for b in range(len(x))]


def golden_answers(layout, x, steps, batch=120):
    """(readout V (n, n_out), class (n,), spikes (n, n_spiking)) from hwsnn.sim."""
    from hwsnn.sim import Network, run
    net = Network(layout.graph)
    v, s = [], []
    for i in range(0, len(x), batch):
        tr = run(net, x[i:i + batch], steps, record=False)
        v.append(np.asarray(tr.final[layout.readout]["V"]).reshape(len(x[i:i + batch]), -1))
        s.append(np.stack([np.asarray(tr.spikes[n]).reshape(len(x[i:i + batch]), -1).sum(1)
                           for n in layout.spiking], axis=1))
    v = np.concatenate(v).astype(np.int64)
    return v, v.argmax(1), np.concatenate(s).astype(np.int64)


def _compare(i, res, gv, gc, gs, layout):
    """Lines naming every output of image i that differs from golden."""
    out = []
    for j in np.nonzero(res.readout != gv)[0]:
        out.append(f"image {i}: readout '{layout.readout}' neuron {j}: board {res.readout[j]}, golden {gv[j]}")
    if res.cls != gc:
        out.append(f"image {i}: class: board {res.cls}, golden {gc}")
    for k in np.nonzero(res.spikes != gs)[0]:
        out.append(f"image {i}: spikes of '{layout.spiking[k]}': board {res.spikes[k]}, golden {gs[k]}")
    if res.flags & 1:
        out.append(f"image {i}: the board flagged a register overflow")
    return out


def run_on_board(graph, x, steps, port, gap_bits, inject=(), say=print, seed=0):
    """Run every sample of x on the board behind `port`; returns the report dict. `inject`: bad
    frame kinds (`_host.BAD_FRAMES`) sent before the first samples, one each. Every ERROR frame
    is reported by `say` as one line and counted in `errors`."""
    layout = Layout(graph)
    host = Host(port, gap_bits)
    info = host.info()
    if not isinstance(info, Info):
        raise BackendError(f"board: INFO answered with {info}")
    if (info.inputs, info.outputs, info.spiking) != (layout.n_src, layout.n_out, len(layout.spiking)):
        raise BackendError(f"board: it runs a network of {info.inputs} inputs, {info.outputs} outputs, "
                           f"{info.spiking} spiking cores; the IR has {layout.n_src}, {layout.n_out}, "
                           f"{len(layout.spiking)}")
    if info.design_id != layout.design_id:
        raise BackendError(f"board: its bitstream was built from another network (design id "
                           f"0x{info.design_id:08x}, the IR's 0x{layout.design_id:08x})")
    gv, gc, gs = golden_answers(layout, x, steps)
    events = layout.events(x, steps)
    rng = np.random.default_rng(seed)
    mismatches, errors, compared, cycles, frame_bytes = [], [], 0, [], []
    t0 = time.time()
    for i, ev in enumerate(events):
        good = frame("RUN", run_payload(ev, steps))
        if i < len(inject):
            kind = inject[i]
            bad = bad_frame(kind, good, rng)
            host.send_raw(bad)
            host.port.idle(host.gap_bits + 20)
            for a in host.answers_until_quiet(layout.n_out, len(layout.spiking)):
                if isinstance(a, BoardError):
                    line = f"board error: {a.name} (code {a.code}, detail {a.detail}) after a bad frame ({kind}) before image {i}"
                    errors.append(line)
                    say(line)
                elif isinstance(a, Result):  # the good part of a frame with trailing bytes
                    mismatches += _compare(i, a, gv[i], gc[i], gs[i], layout)
            host.port.idle(host.gap_bits + 20)
        host.send_raw(good)
        answers = [host.read_answer(host.run_bits)]
        if answers[0] is None:
            raise BackendError(f"board: no answer to image {i}")
        res = parse_payload(answers[0], layout.n_out, len(layout.spiking))
        if isinstance(res, BoardError):
            line = f"board error: {res.name} (code {res.code}, detail {res.detail}) for image {i}"
            errors.append(line)
            say(line)
            continue
        compared += 1
        cycles.append(res.cycles)
        frame_bytes.append(len(good) + HEADER + result_length(layout.n_out, len(layout.spiking)) + 2)
        bad = _compare(i, res, gv[i], gc[i], gs[i], layout)
        for line in bad:
            say(line)
        mismatches += bad
    wall = time.time() - t0
    return {"images": len(events), "compared": compared, "mismatches": len(mismatches), "errors": len(errors),
            "error_lines": errors, "mismatch_lines": mismatches[:50], "images_per_s": len(events) / wall,
            "seconds": wall, "steps": steps, "cycles_per_image": float(np.mean(cycles)) if cycles else None,
            "bytes_per_image": float(np.mean(frame_bytes)) if frame_bytes else None}
