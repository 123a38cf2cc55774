"""Run the HDF5 read in a forked child with a deadline and a memory cap.

The HDF5 library itself can loop or crash on corrupted metadata (a damaged variable-length
string reference in `edges` loops forever inside H5Dread), which no check before the read can
rule out. So the bounded read (`_h5.read_raw`) runs in a child process: it gets `READ_SECONDS`
of CPU time (checked every 20 ms; `WALL_SECONDS` of wall time in all) and `MEMORY_BYTES` of
address space beyond what the parent had mapped, and sends
its result back through a pipe as JSON plus `np.save` arrays (no pickle). A child that is too
slow, dies, or overruns the memory is a NIRError naming the file. Without `os.fork` (Windows)
the read runs in-process.
"""

import io
import json
import os
import select
import signal
import struct
import time

import numpy as np

from ..errors import NIRError

__all__ = ["guarded", "READ_SECONDS", "MEMORY_BYTES"]

READ_SECONDS = 0.5      # CPU seconds of the child (wall seconds where /proc is missing)
WALL_SECONDS = 20.0     # backstop for a child that blocks without using CPU
MEMORY_BYTES = 192 << 20
MAX_PAYLOAD = 96 << 20


def _encode(result):
    """(status 0) JSON header of the dict with arrays replaced by indices, then the arrays."""
    arrays = []

    def put(value):
        if isinstance(value, np.ndarray):
            arrays.append(value)
            return {"a": len(arrays) - 1}
        return {"s": value}

    head = {"version": result["version"], "edges": result["edges"],
            "nodes": {n: {k: put(v) for k, v in node.items()}
                      for n, node in result["nodes"].items()}}
    blobs = []
    for arr in arrays:
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        blobs.append(buf.getvalue())
    text = json.dumps(head).encode()
    sizes = struct.pack(f"<{len(blobs)}Q", *map(len, blobs))
    return struct.pack("<QQ", len(text), len(blobs)) + text + sizes + b"".join(blobs)


def _decode(data):
    n_text, n_arr = struct.unpack_from("<QQ", data)
    pos = 16
    head = json.loads(data[pos:pos + n_text])
    pos += n_text
    sizes = struct.unpack_from(f"<{n_arr}Q", data, pos)
    pos += 8 * n_arr
    arrays = []
    for size in sizes:
        arrays.append(np.load(io.BytesIO(data[pos:pos + size]), allow_pickle=False))
        pos += size
    nodes = {n: {k: arrays[v["a"]] if "a" in v else v["s"] for k, v in node.items()}
             for n, node in head["nodes"].items()}
    return {"version": head["version"], "edges": [tuple(e) for e in head["edges"]], "nodes": nodes}


def _cap_memory():
    """Address space: what is mapped now plus MEMORY_BYTES (Linux; elsewhere no cap)."""
    try:
        import resource
        with open("/proc/self/status") as f:
            vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
        resource.setrlimit(resource.RLIMIT_AS, (vm + MEMORY_BYTES, vm + MEMORY_BYTES))
    except (OSError, ValueError, StopIteration, ImportError):
        pass


def _child(fd, read, path):
    try:
        _cap_memory()
        try:
            payload = b"\0" + _encode(read(path))
        except NIRError as exc:
            payload = b"\1" + str(exc).encode()
        except MemoryError:
            payload = b"\1" + f"NIR file '{path}': reading it needs more than the memory " \
                               f"cap".encode()
        except Exception as exc:  # noqa: BLE001  (a library failure becomes one line)
            msg = " ".join(str(exc).split())[:200]
            payload = b"\1" + f"NIR file '{path}' cannot be read: {type(exc).__name__}: " \
                               f"{msg}".encode()
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
    finally:
        os._exit(0)


def _cpu_seconds(pid):
    """User + system CPU seconds of process `pid` (Linux /proc), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _too_slow(pid, start):
    """Why the child must stop (it used READ_SECONDS of CPU, of wall time without /proc, or
    WALL_SECONDS of wall time), else None: a loaded machine slows a read without failing it."""
    wall = time.monotonic() - start
    cpu = _cpu_seconds(pid)
    if wall > WALL_SECONDS:
        return f"{WALL_SECONDS} s"
    if (cpu if cpu is not None else wall) > READ_SECONDS:
        return f"{READ_SECONDS} s" + (" of CPU" if cpu is not None else "")
    return None


def _collect(fd, pid, path):
    start = time.monotonic()
    chunks, size = [], 0
    while True:
        if not select.select([fd], [], [], 0.02)[0]:
            why = _too_slow(pid, start)
            if why:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise NIRError(f"NIR file '{path}' cannot be read: the HDF5 read took more than "
                               f"{why} (corrupted file structure)")
            continue
        data = os.read(fd, 1 << 20)
        if not data:
            break
        size += len(data)
        if size > MAX_PAYLOAD:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise NIRError(f"NIR file '{path}' yields more than {MAX_PAYLOAD} bytes")
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    return b"".join(chunks), status


def guarded(read, path):
    """read(path) in a forked child under the deadline and memory cap; NIRError otherwise."""
    if not hasattr(os, "fork"):
        return read(path)
    import h5py  # noqa: F401  (loaded before the fork: the child maps nothing new)

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        _child(w, read, path)
    os.close(w)
    try:
        data, status = _collect(r, pid, path)
    finally:
        os.close(r)
    if not data:
        why = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else "no result"
        raise NIRError(f"NIR file '{path}' cannot be read: the HDF5 library failed ({why})")
    if data[:1] == b"\1":
        raise NIRError(data[1:].decode("utf-8", "replace"))
    return _decode(data[1:])
