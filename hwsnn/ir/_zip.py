"""Bounded reading of an IR file's ZIP archive.

Nothing is decompressed before its size is known to be sane: the central directory is bounded
from the end record, each member's declared size against what the header needs, and every
read is a capped stream (declared sizes can lie). Only stored and deflated members, never
encrypted ones. Messages do not name the file: `load` adds it.
"""

import os
import struct
import warnings
import zipfile
import zlib

import numpy as np
from numpy.lib import format as npy

from ..errors import IRFormatError

__all__ = ["Archive", "MAX_HEADER_BYTES", "MAX_DIRECTORY_BYTES"]

MAX_HEADER_BYTES = 2 << 20      # header.json (a 100-node network needs about 30 KiB)
MAX_DIRECTORY_BYTES = 1 << 20   # the ZIP central directory (about 20,000 members)
MAX_NPY_HEADER = 4096           # a .npy header for an integer array is 128 bytes
CHUNK = 1 << 20

_END, _END_SIZE, _ZIP64_LOCATOR = b"PK\x05\x06", 22, b"PK\x06\x07"
# what zipfile and zlib raise on a corrupt archive or member
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, struct.error,
               UnicodeDecodeError, NotImplementedError, RuntimeError, OverflowError)


def _text(exc, limit=200):
    """'Class: message' of a foreign exception, on one line, at most `limit` characters."""
    name = "zlib.error" if isinstance(exc, zlib.error) else type(exc).__name__
    text = " ".join(f"{name}: {exc}".split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _corrupt(what, exc):
    return IRFormatError(f"not a readable hwsnn IR file (truncated or corrupt: {what}{_text(exc)})")


def _directory_size(f, size):
    """Size of the central directory as zipfile will read it (its end-record search, mirrored)."""
    if size < _END_SIZE:
        raise IRFormatError(f"not a readable hwsnn IR file (truncated or corrupt: {size} bytes "
                            f"cannot hold a ZIP archive)")
    f.seek(size - _END_SIZE)
    rec, pos = f.read(_END_SIZE), size - _END_SIZE
    if not (rec[:4] == _END and rec[-2:] == b"\0\0"):
        start = max(size - (1 << 16) - _END_SIZE, 0)
        f.seek(start)
        data = f.read()
        i = data.rfind(_END)
        if i < 0 or len(data) - i < _END_SIZE:
            raise IRFormatError("not a readable hwsnn IR file (truncated or corrupt: no ZIP "
                                "end-of-central-directory record)")
        rec, pos = data[i:i + _END_SIZE], start + i
    if pos >= 20:
        f.seek(pos - 20)
        if f.read(4) == _ZIP64_LOCATOR:
            raise IRFormatError("is a ZIP64 archive; an IR file must be a plain ZIP "
                                "(its size limits are far below ZIP64's)")
    return struct.unpack("<I", rec[12:16])[0]


class Archive:
    """An open IR file: its members by name, read with size caps."""

    def __init__(self, path):
        self.f = open(path, "rb")
        try:
            cd = _directory_size(self.f, os.fstat(self.f.fileno()).st_size)
            if cd > MAX_DIRECTORY_BYTES:
                raise IRFormatError(f"ZIP central directory of {cd} bytes is larger than the "
                                    f"{MAX_DIRECTORY_BYTES} an IR file may have")
            self.f.seek(0)
            try:
                self.zf = zipfile.ZipFile(self.f)
                infos = self.zf.infolist()
            except _ZIP_ERRORS as exc:
                raise _corrupt("", exc) from None
            self.infos, size = {}, os.fstat(self.f.fileno()).st_size
            for info in infos:
                if not 0 <= info.header_offset < size:
                    raise IRFormatError(f"member {info.filename!r} starts at byte {info.header_offset}, "
                                        f"outside the file of {size} bytes (truncated or corrupt)")
                if info.filename in self.infos:
                    raise IRFormatError(f"member {info.filename!r} appears twice in the archive")
                self.infos[info.filename] = info
        except BaseException:
            self.f.close()
            raise

    def close(self):
        self.zf.close() if hasattr(self, "zf") else None
        self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def names(self):
        return sorted(self.infos)

    def _open(self, name, limit, need):
        """Checked ZipExtFile of member `name` whose declared size must not exceed `limit`."""
        info = self.infos[name]
        if info.flag_bits & 0x41:
            raise IRFormatError(f"member {name!r} is encrypted; IR members are plain")
        if info.flag_bits & 0x20:
            raise IRFormatError(f"member {name!r} holds patched data (flag bit 5); "
                                f"IR members are plain")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise IRFormatError(f"member {name!r} uses compression method {info.compress_type}; "
                                f"expected 0 (stored) or 8 (deflated)")
        if info.file_size > limit:
            raise IRFormatError(f"member {name!r} declares {info.file_size} uncompressed bytes, "
                                f"more than the {limit} {need}")
        try:
            return self.zf.open(info)
        except _ZIP_ERRORS as exc:
            raise _corrupt(f"member {name!r}: ", exc) from None

    def read_header(self):
        """header.json bytes, at most MAX_HEADER_BYTES."""
        if "header.json" not in self.infos:
            raise IRFormatError("not an hwsnn IR file (no header.json)")
        fp = self._open("header.json", MAX_HEADER_BYTES, "a header may hold")
        try:
            with fp:
                data = fp.read(MAX_HEADER_BYTES + 1)
                if len(data) > MAX_HEADER_BYTES:
                    raise IRFormatError(f"header.json holds more than the {MAX_HEADER_BYTES} "
                                        f"bytes a header may hold")
        except _ZIP_ERRORS as exc:
            raise _corrupt("member 'header.json': ", exc) from None
        return data

    def read_array(self, key, shape, dtype):
        """Member `key`.npy: a .npy of exactly `dtype` (any byte order) and `shape`, no pickle,
        no trailing bytes. Reads no more than the declared shape needs."""
        name = f"{key}.npy"
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        fp = self._open(name, nbytes + MAX_NPY_HEADER,
                        f"its shape {list(shape)} of {dtype} needs with a .npy header")
        try:
            with fp:
                stored, fortran = self._npy_header(name, fp, shape, dtype)
                buf = bytearray(nbytes)
                view, got = memoryview(buf), 0
                while got < nbytes:
                    chunk = fp.read(min(CHUNK, nbytes - got))
                    if not chunk:
                        raise IRFormatError(f"member {name!r} ends after {got} of the {nbytes} "
                                            f"data bytes its shape {list(shape)} needs")
                    view[got:got + len(chunk)] = chunk
                    got += len(chunk)
                if fp.read(1):
                    raise IRFormatError(f"member {name!r} holds more than the {nbytes} data bytes "
                                        f"of its shape {list(shape)}")
        except _ZIP_ERRORS as exc:
            raise _corrupt(f"member {name!r}: ", exc) from None
        return np.frombuffer(buf, stored).reshape(shape, order="F" if fortran else "C")

    @staticmethod
    def _npy_header(name, fp, shape, dtype):
        try:
            version = npy.read_magic(fp)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f".npy format version {version} (expected 1.0 or 2.0)")
            read = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # a Python-2 header needs a warned-about fix-up
                stored_shape, fortran, stored = read(fp, max_header_size=MAX_NPY_HEADER)
        except (ValueError, SyntaxError, TypeError, UserWarning, RecursionError, MemoryError,
                KeyError, struct.error) as exc:
            raise IRFormatError(f"member {name!r} is not a valid .npy array ({_text(exc)})") from None
        if (stored.kind != "i" or stored.itemsize != dtype.itemsize or stored.fields is not None
                or stored.subdtype is not None):
            raise IRFormatError(f"member {name!r} is stored as dtype {stored}; its declared bits "
                                f"need {dtype} (integers, never pickled objects)")
        if tuple(stored_shape) != tuple(shape):
            raise IRFormatError(f"member {name!r} has shape {list(stored_shape)}, header.json "
                                f"says {list(shape)}")
        return stored, fortran
