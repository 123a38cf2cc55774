"""Memory contents of a simulation build as `$readmemh` files instead of `initial` blocks.

Amaranth writes each memory's initial contents as an `initial begin m[0] = 5'h00; ... end`
block. Verilator turns those into megabytes of C++ that take most of a build's compile time.
`externalize_memory_init` moves every such block, value for value, into a hex file beside the
Verilog and loads it with `$readmemh` at time 0: the same contents, read from the same text
(nothing is recomputed). Blocks of any other form are left as they are.
"""

import os
import re
from pathlib import Path

__all__ = ["externalize_memory_init", "write_text_atomic"]

_NAME = r"(?:\\\S+ |[A-Za-z_][\w$]*)"
_BLOCK = re.compile(r"^  initial begin\n((?:    " + _NAME + r" ?\[\d+\] = \d+'h[0-9a-fA-F]+;\n)+)  end\n",
                    re.MULTILINE)
_LINE = re.compile(r"^    (" + _NAME + r") ?\[(\d+)\] = (\d+)'h([0-9a-fA-F]+);$")


def write_text_atomic(path, text):
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _hex_file(lines):
    """(memory name, hex file text) of one block, or None when it sets several memories."""
    name, out, nxt = None, [], None
    for line in lines:
        m = _LINE.match(line)
        mem, addr, value = m.group(1), int(m.group(2)), m.group(4)
        if name is None:
            name = mem
        elif mem != name:
            return None
        if addr != nxt:
            out.append(f"@{addr:x}")
        out.append(value)
        nxt = addr + 1
    return name, "\n".join(out) + "\n"


def externalize_memory_init(text, folder):
    """`text` with each memory-initialising `initial` block replaced by a `$readmemh` of
    `folder`/mem<k>.hex (written atomically); returns (text, number of files)."""
    folder = Path(folder).resolve()
    count = 0

    def swap(match):
        nonlocal count
        found = _hex_file(match.group(1).rstrip("\n").split("\n"))
        if found is None:
            return match.group(0)
        name, body = found
        path = folder / f"mem{count}.hex"
        write_text_atomic(path, body)
        count += 1
        return f'  initial $readmemh("{path}", {name});\n'

    return _BLOCK.sub(swap, text), count
