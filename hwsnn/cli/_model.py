"""`--model` and `--model-args`: a newcomer's model from a file or module in the current folder.

Forms: `mynet.py:factory` (a file, relative to the current folder or absolute),
`mynet:factory` (a module; the current folder is searched first), `pkg.mod:factory`,
`torchvision.models:resnet18`. `--model-args` is a JSON object (`{"num_classes": 10}`) or
`k=v` pairs separated by commas (`num_classes=10,aux_logits=false`; each value is read as JSON,
Python's True/False/None too, else kept as a string). A user file that imports torchvision gets
hwsnn's torchvision fix first (`hwsnn/_torchvision.py`). Any error raised while the user's file
loads or builds the model is one line naming the file and the line.
"""

import importlib
import importlib.util
import json
import os
import sys
import traceback

from ..errors import ConversionError

__all__ = ["load_model", "parse_model_args"]

_PY = {"True": True, "False": False, "None": None}


def parse_model_args(text):
    """Keyword arguments from `--model-args` (module docstring); {} for None or ''."""
    if not text or not text.strip():
        return {}
    text = text.strip()
    if text.startswith("{"):
        try:
            args = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConversionError(f"--model-args is not a JSON object: {exc}") from None
        if not isinstance(args, dict):
            raise ConversionError(f"--model-args must be a JSON object, not {text!r}")
        return args
    args = {}
    for pair in text.split(","):
        key, eq, value = pair.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key.isidentifier():
            raise ConversionError(f"--model-args must be a JSON object or k=v pairs separated by "
                                  f"commas, not {text!r}")
        if value in _PY:
            args[key] = _PY[value]
            continue
        try:
            args[key] = json.loads(value)
        except json.JSONDecodeError:
            args[key] = value
    return args


def _where(exc, path, fallback=None):
    """'file:line' of the innermost frame of `exc` in the user's file `path` (else `fallback`,
    else its last frame)."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{exc.filename}:{exc.lineno}"
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if path and os.path.abspath(f.filename) == path]
    if not mine and fallback:
        return fallback
    f = (mine or frames or [None])[-1]
    return f"{f.filename}:{f.lineno}" if f else str(path)


def _fail(spec, exc, path, fallback=None):
    msg = str(exc).splitlines()[0] if str(exc) else ""
    return ConversionError(f"--model {spec!r}: {_where(exc, path, fallback)}: "
                           f"{type(exc).__name__}: {msg}")


def _source_files(module):
    """The .py files importing `module` runs (its package __init__ files, then the module),
    found on the path without importing anything (the current folder first); [] if none."""
    parts = module.split(".")
    for entry in [os.getcwd()] + [p or os.getcwd() for p in sys.path]:
        if not os.path.isdir(os.path.join(entry, *parts[:-1])):
            continue
        inits = [os.path.join(entry, *parts[:i], "__init__.py") for i in range(1, len(parts))]
        for last in (os.path.join(entry, *parts) + ".py", os.path.join(entry, *parts, "__init__.py")):
            if os.path.isfile(last):
                return [f for f in inits if os.path.isfile(f)] + [last]
    return []


def _needs_torchvision(module, paths):
    if module.split(".")[0] == "torchvision":
        return True
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                if "torchvision" in fh.read():
                    return True
        except OSError:
            continue
    return False


def _import(spec, target):
    """The module of `target` (a .py path or a dotted module name), loaded once."""
    if target.endswith(".py"):
        path = os.path.abspath(target)
        if not os.path.isfile(path):
            raise ConversionError(f"--model {spec!r}: no file {path}")
        name = os.path.splitext(os.path.basename(path))[0]
        if _needs_torchvision(name, [path]):
            from .._torchvision import import_torchvision
            import_torchvision()
        folder = os.path.dirname(path)
        if folder not in sys.path:
            sys.path.insert(0, folder)  # the file may import its neighbours
        mod_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(mod_spec)
        try:
            sys.modules[name] = module
            mod_spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(name, None)
            raise _fail(spec, exc, path) from exc
        return module, path
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    files = _source_files(target)
    path = os.path.abspath(files[-1]) if files else None
    if _needs_torchvision(target, files):
        from .._torchvision import import_torchvision
        import_torchvision()
    try:
        return importlib.import_module(target), path
    except ModuleNotFoundError as exc:
        if exc.name and target.startswith(exc.name):
            raise ConversionError(f"--model {spec!r}: no module {target!r} (looked in the current "
                                  f"folder {os.getcwd()} and on the Python path)") from exc
        raise _fail(spec, exc, path) from exc
    except Exception as exc:
        raise _fail(spec, exc, path) from exc


def load_model(spec, model_args=None):
    """Call the factory named by `spec` with keyword args `model_args` (a dict or the
    `--model-args` text) and return the nn.Module it makes."""
    from torch import nn

    kwargs = parse_model_args(model_args) if not isinstance(model_args, dict) else model_args
    target, _, attr = spec.rpartition(":")
    if not target or not attr.isidentifier():
        raise ConversionError(f"--model must be 'file.py:factory' or 'module:factory', not {spec!r}")
    module, path = _import(spec, target)
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ConversionError(f"--model {spec!r}: {path or target} defines no callable {attr!r}")
    try:
        model = factory(**kwargs)
    except Exception as exc:  # a bad keyword never enters the factory: name its def line
        code = getattr(factory, "__code__", None)
        at = f"{code.co_filename}:{code.co_firstlineno}" if code else None
        raise _fail(spec, exc, path, at) from exc
    if not isinstance(model, nn.Module):
        raise ConversionError(f"--model {spec!r} must return a torch.nn.Module, not {type(model).__name__}")
    return model
