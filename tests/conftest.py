"""Shared fixtures for the symgrad test suite.

* A fresh, empty derivation cache for the whole session (SYMGRAD_CACHE_DIR), so a run never reuses kernels from an
  earlier run or from the developer's own cache.
* `central_difference`: central finite differences of a plain Python function.
* `write_module`: write function source into a real ``.py`` file and import it.  symgrad reads source with
  ``inspect.getsource``, so generated functions (hypothesis programs, long chains) must live in real files.

Both helpers are plain functions here and are also offered as fixtures (``fd`` and ``make_module``) so test modules
need not import this file.
"""

import importlib.util
import itertools
import os
import pathlib
import shutil
import sys
import tempfile
import textwrap

import pytest

# Generated modules go to a directory of their own (not the cache), created lazily.
_MODULE_DIRECTORY = None
_COUNTER = itertools.count()


def central_difference(function, args, position, step=1e-6):
    """d function / d args[position] by central differences, with a step scaled to the argument."""
    args = [float(a) for a in args]
    h = step * max(1.0, abs(args[position]))
    plus, minus = list(args), list(args)
    plus[position] += h
    minus[position] -= h
    return (function(*plus) - function(*minus)) / (plus[position] - minus[position])


def fd_gradient(function, args, positions):
    """Central differences for each position in `positions` (a tuple)."""
    return tuple(central_difference(function, args, p) for p in positions)


def module_directory():
    global _MODULE_DIRECTORY
    if _MODULE_DIRECTORY is None:
        _MODULE_DIRECTORY = pathlib.Path(tempfile.mkdtemp(prefix="symgrad_test_modules_"))
        sys.path.insert(0, str(_MODULE_DIRECTORY))
    return _MODULE_DIRECTORY


def write_module(source, name=None, directory=None):
    """Write `source` (dedented) to ``<name>.py`` and import it as a real module (registered in sys.modules)."""
    directory = pathlib.Path(directory) if directory is not None else module_directory()
    if name is None:
        name = f"symgrad_generated_{os.getpid()}_{next(_COUNTER)}"
    path = directory / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_SESSION_CACHE = None


def pytest_configure(config):
    """Point SYMGRAD_CACHE_DIR at a fresh, empty directory as early as possible: before test modules are imported,
    so not even a kernel compiled at import time could reach an older cache."""
    global _SESSION_CACHE
    if _SESSION_CACHE is None:
        _SESSION_CACHE = (os.environ.get("SYMGRAD_CACHE_DIR"), pathlib.Path(tempfile.mkdtemp(prefix="symgrad_cache_")))
        os.environ["SYMGRAD_CACHE_DIR"] = str(_SESSION_CACHE[1])


@pytest.fixture(scope="session", autouse=True)
def fresh_symgrad_cache():
    """The session's fresh cache directory (SYMGRAD_CACHE_DIR); the previous setting is restored afterwards."""
    previous, directory = _SESSION_CACHE
    os.environ["SYMGRAD_CACHE_DIR"] = str(directory)
    yield directory
    if previous is None:
        os.environ.pop("SYMGRAD_CACHE_DIR", None)
    else:
        os.environ["SYMGRAD_CACHE_DIR"] = previous
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def fd():
    """The central-difference helper: ``fd(function, args, position)``."""
    return central_difference


@pytest.fixture(scope="session")
def make_module():
    """The module writer: ``make_module(source, name=None)`` -> imported module."""
    return write_module
