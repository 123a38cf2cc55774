"""Make lava-nc 0.10.0 importable on Python 3.11, and report a missing/broken install clearly.

lava-nc 0.10.0 (the last release) declares ``x: ByteEncoder = ByteEncoder()`` dataclass fields in
``lava/magma/compiler/var_model.py``; Python 3.11 rejects such mutable defaults ("mutable default
ByteEncoder for field x is not allowed"). `install()` puts an import hook on ``sys.meta_path``
that rewrites exactly that module's source on load to ``field(default_factory=ByteEncoder)``.
Installed files are never touched. The hook must be in place before the first ``import lava``.

The same hook fixes ``lava/magma/runtime/message_infrastructure/multiprocessing.py``, which calls
``mp.set_start_method('fork')`` at import and so fails ("context has already been set") once
anything in the process (a tqdm bar, torch.fx) has fixed the start method: it becomes a no-op
when the method already is 'fork' (Linux's default), and forces 'fork' otherwise (Lava needs it).

And ``lava/magma/core/process/ports/ports.py``, whose reshape/flatten ports call
``np.reshape(x, newshape=...)``, a keyword numpy 2.4 removed: it becomes ``shape=``.
"""

import importlib.abc
import importlib.machinery
import sys

from hwsnn.errors import BackendUnavailableError

__all__ = ["install", "require_lava", "INSTALL_HINT"]

PATCHED_MODULE = "lava.magma.compiler.var_model"
PATCHED_MP_MODULE = "lava.magma.runtime.message_infrastructure.multiprocessing"
PATCHED_PORTS_MODULE = "lava.magma.core.process.ports.ports"
_NEWSHAPE, _SHAPE = "ft.partial(np.reshape, newshape=", "ft.partial(np.reshape, shape="
_START_METHOD = "mp.set_start_method('fork')"
_SAFE_START_METHOD = ("(mp.get_start_method(allow_none=True) == 'fork' "
                      "or mp.set_start_method('fork', force=True))")
INSTALL_HINT = "pip install --no-deps --ignore-requires-python lava-nc==0.10.0"


class _PatchingLoader(importlib.machinery.SourceFileLoader):
    """Source loader that rewrites the mutable ByteEncoder defaults before compiling."""

    def get_data(self, path):
        data = super().get_data(path)
        if not path.endswith(".py"):
            return data
        src = data.decode("utf-8")
        if _NEWSHAPE in src:
            return src.replace(_NEWSHAPE, _SHAPE).encode("utf-8")
        if _START_METHOD in src:
            return src.replace(_START_METHOD, _SAFE_START_METHOD).encode("utf-8")
        if "= ByteEncoder()" not in src:
            return data
        src = src.replace("= ByteEncoder()", "= field(default_factory=ByteEncoder)")
        lines = src.split("\n")
        at = next((i + 1 for i, ln in enumerate(lines) if ln.startswith("from __future__")), 0)
        lines.insert(at, "from dataclasses import field")
        return "\n".join(lines).encode("utf-8")

    def path_stats(self, path):
        raise OSError("no bytecode cache for a patched module")  # always compile from source


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname not in (PATCHED_MODULE, PATCHED_MP_MODULE, PATCHED_PORTS_MODULE):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return spec
        spec.loader = _PatchingLoader(fullname, spec.origin)
        return spec


def install():
    """Put the hook first on sys.meta_path (idempotent)."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


def require_lava():
    """Import the parts of Lava hwsnn uses; BackendUnavailableError (one line) if that fails."""
    install()
    try:
        import lava.magma.core.run_configs  # noqa: F401
        import lava.magma.core.run_conditions  # noqa: F401
        import lava.magma.core.model.py.model  # noqa: F401
    except Exception as exc:  # ImportError, or the ValueError of an unpatched 3.11 import
        raise BackendUnavailableError(
            f"the Lava back end needs lava-nc 0.10.0, which cannot be imported "
            f"({type(exc).__name__}: {exc}); install it with: {INSTALL_HINT}") from None
