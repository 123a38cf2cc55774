"""`ArrayChunks`: read one array of an .npz (or an .npy) in row chunks, never all at once.

An .npz member is streamed through zipfile (compressed or stored): only the .npy header and
one chunk of rows are in memory at a time. Object arrays are refused (no unpickling).
"""

import zipfile

import numpy as np

from ..errors import HwsnnError

__all__ = ["ArrayChunks", "npz_names"]


def npz_names(path):
    """Array names in an .npz file."""
    try:
        with zipfile.ZipFile(path) as z:
            return [n[:-4] for n in z.namelist() if n.endswith(".npy")]
    except (OSError, zipfile.BadZipFile) as exc:
        raise HwsnnError(f"input file '{path}' cannot be read as .npz: {exc}") from None


class ArrayChunks:
    """Array `name` of `path` (.npz), or the array of an .npy file (name None), read `rows`
    samples at a time."""

    def __init__(self, path, name=None, rows=1024):
        self.path, self.name, self.rows = str(path), name, int(rows)
        with self._open() as f:
            self.shape, self.dtype, self.offset = self._header(f)
        if self.dtype.hasobject:
            raise HwsnnError(f"input file '{self.path}': array {name!r} holds Python objects; "
                             f"only numeric arrays are read (never unpickled)")
        if len(self.shape) < 1:
            raise HwsnnError(f"input file '{self.path}': array {name!r} must have a sample axis, "
                             f"not shape {self.shape}")

    def __len__(self):
        return int(self.shape[0])

    def _open(self):
        try:
            if self.name is None:
                return open(self.path, "rb")
            z = zipfile.ZipFile(self.path)
            return _Member(z, z.open(f"{self.name}.npy"))
        except KeyError:
            raise HwsnnError(f"input file '{self.path}' has no array named {self.name!r}; it has "
                             f"{npz_names(self.path)}") from None
        except (OSError, zipfile.BadZipFile, RuntimeError, NotImplementedError) as exc:
            raise HwsnnError(f"input file '{self.path}' cannot be read: {exc}") from None

    def _header(self, f):
        try:
            version = np.lib.format.read_magic(f)
            read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                    else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read(f)
        except (ValueError, OSError, EOFError) as exc:
            raise HwsnnError(f"input file '{self.path}': array {self.name!r} is not a valid "
                             f".npy: {exc}") from None
        if fortran and len(shape) > 1:
            raise HwsnnError(f"input file '{self.path}': array {self.name!r} is Fortran-ordered; "
                             f"save it C-ordered (np.ascontiguousarray)")
        return tuple(shape), np.dtype(dtype), f.tell()

    def chunks(self, rows):
        """Yield (start, array of up to `rows` rows) in order."""
        row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        with self._open() as f:
            self._header(f)
            for start in range(0, len(self), rows):
                n = min(rows, len(self) - start)
                buf = f.read(n * row_bytes)
                if len(buf) != n * row_bytes:
                    raise HwsnnError(f"input file '{self.path}': array {self.name!r} is truncated "
                                     f"at row {start + len(buf) // max(1, row_bytes)} of {len(self)}")
                yield start, np.frombuffer(buf, dtype=self.dtype).reshape(n, *self.shape[1:]).copy()


class _Member:
    """A zip member stream that also closes its ZipFile."""

    def __init__(self, z, f):
        self.z, self.f = z, f

    def read(self, n=-1):
        return self.f.read(n)

    def tell(self):
        return self.f.tell()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()
        self.z.close()
