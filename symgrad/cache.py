"""The derivation cache: generated kernel modules on disk, named by a hash of everything they derive from.

A second process that decorates the same function finds the module by its key and loads it without
importing SymPy at all; Numba's own ``cache=True`` then finds the compiled machine code beside it.
Module files are written once under a content-hash name and never rewritten, because Numba stamps its cache
entries with the source file's mtime and size (DESIGN.md: a rewritten callee leaves cached callers stale).
This module must stay free of SymPy and Numba imports.
"""

import hashlib
import importlib.util
import inspect
import numbers
import os
import pathlib
import sys
import types

VERSION = "0.1.0"

# Where a symgrad transform keeps the function it was made from (read by the fingerprint and the frontend).
INLINE_ATTRIBUTE = "__symgrad_function__"

_PACKAGE = pathlib.Path(__file__).resolve().parent


def cache_directory():
    """SYMGRAD_CACHE_DIR, else the user's cache directory (XDG on Linux, Library/Caches on macOS, LOCALAPPDATA)."""
    configured = os.environ.get("SYMGRAD_CACHE_DIR")
    if configured:
        return pathlib.Path(configured)
    if sys.platform == "win32":
        root = pathlib.Path(os.environ.get("LOCALAPPDATA", pathlib.Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        root = pathlib.Path.home() / "Library" / "Caches"
    else:
        root = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
    return root / "symgrad"


def _referenced_names(code):
    names = set(code.co_names) | set(code.co_freevars)
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            names |= _referenced_names(constant)
    return names


def _describe(value, seen, attributes=()):
    value = getattr(value, INLINE_ATTRIBUTE, value)
    if isinstance(value, types.FunctionType):
        return "function " + _function_fingerprint(value, seen)
    if isinstance(value, types.ModuleType):  # with the numbers the function may read from it (`config.SCALE`)
        return "module " + value.__name__ + "".join(
            f" {name}={getattr(value, name)!r}" for name in sorted(attributes)
            if isinstance(getattr(value, name, None), numbers.Number))
    if isinstance(value, numbers.Number):
        return f"{type(value).__name__} {value!r}"
    if callable(value):
        return f"callable {getattr(value, '__module__', '')}.{getattr(value, '__qualname__', type(value).__name__)}"
    return f"object {type(value).__qualname__}"


def _function_fingerprint(function, seen):
    """The source of a function and a description of every outside name it reads, recursively."""
    if function in seen:
        return function.__qualname__
    seen.add(function)
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        source = function.__code__.co_code.hex()
    cells = dict(zip(function.__code__.co_freevars, function.__closure__ or ()))
    defaults = (function.__defaults__ or ()) + tuple((function.__kwdefaults__ or {}).values())
    parts = [function.__module__ or "", function.__qualname__, source] + [_describe(d, seen) for d in defaults]
    names = _referenced_names(function.__code__)
    for name in sorted(names):
        if name in cells:
            try:
                value = cells[name].cell_contents
            except ValueError:
                continue
        elif name in function.__globals__:
            value = function.__globals__[name]
        else:
            continue  # an attribute name or a builtin: fixed for a given Python
        parts.append(f"{name}={_describe(value, seen, names)}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _package_fingerprint():
    """symgrad's own source: a change to any stage (or to the runtime the kernels call) derives anew."""
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def derivation_key(function, wrt, gradient_as_tuple, options=()):
    """The name of the kernels for (function and all it reads, wrt, result shape, options, symgrad's source)."""
    fingerprint = _function_fingerprint(function, set())
    text = f"{VERSION}|{_package_fingerprint()}|{fingerprint}|{tuple(wrt)}|{gradient_as_tuple}|{options!r}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _module_path(key):
    return cache_directory() / f"symgrad_{key}.py"


def load(key):
    """The cached kernel module for `key`, or None."""
    path = _module_path(key)
    name = path.stem
    if name in sys.modules:
        return sys.modules[name]
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # Numba's cache loader imports the module by name in later processes
    try:
        spec.loader.exec_module(module)
    except Exception:
        del sys.modules[name]
        return None
    return module


def store(key, text):
    """Write the module for `key` once (atomically) and load it."""
    path = _module_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(text)
        os.replace(temporary, path)
    return load(key)


KERNEL_NAMES = ("value", "grad", "value_and_grad")

MODULE_TEMPLATE = '''"""symgrad kernels of {name}() from {filename}:{line}.

Generated code, named by a content hash of what it derives from; symgrad never rewrites it.
"""
import math

import numpy as np
{imports}
NAME = {name!r}
FILENAME = {filename!r}
LINE = {line!r}
ARGUMENTS = {arguments!r}
KINDS = {kinds!r}
WRT = {wrt!r}
THREADED = {threaded!r}
LATEX = {latex!r}
TEXT = {text!r}


{kernels}
'''


def module_text(**fields):
    """The generated module: metadata that the cached path reads without SymPy, then the kernels."""
    return MODULE_TEMPLATE.format(**fields)
