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

import numpy as np
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


def richardson_gradient(function, args, position, step=1e-3, levels=4):
    """d function / d args[position] (a float, or an array for an array argument) by central differences with
    Richardson extrapolation over `levels` halvings of the step: error O(h^(2 levels)), far below one step's."""
    args = [np.array(a, dtype=float) if isinstance(a, np.ndarray) else a for a in args]
    point = np.atleast_1d(np.asarray(args[position], dtype=float))
    gradient = np.empty(point.shape)
    for index in np.ndindex(point.shape):
        def along(t):
            moved = point.copy()
            moved[index] += t
            value = moved if isinstance(args[position], np.ndarray) else float(moved[0])
            return function(*args[:position], value, *args[position + 1:])

        h = step * max(1.0, abs(point[index]))
        table = [[(along(h / 2**k) - along(-h / 2**k)) / (2 * h / 2**k)] for k in range(levels)]
        for k in range(1, levels):
            for j in range(1, k + 1):
                table[k].append(table[k][j - 1] + (table[k][j - 1] - table[k - 1][j - 1]) / (4**j - 1))
        gradient[index] = table[-1][-1]
    return gradient if isinstance(args[position], np.ndarray) else float(gradient[0])


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


def jax_float64():
    """JAX in float64, the reference of gradients (a test needing it is skipped, saying why, where it is missing)."""
    jax = pytest.importorskip("jax", reason="JAX is the reference for the gradients")
    jax.config.update("jax_enable_x64", True)
    return jax


def matches_jax(transform, function, twin, args, wrt, atol=1e-12, rtol=1e-10):
    """Assert that symgrad's value and gradient of `function` equal NumPy's own value and JAX's value_and_grad of
    `twin`, the same source run on jax.numpy (JAX in float64)."""
    jax = jax_float64()

    value, gradient = transform(*args)
    expected_value, expected_gradient = jax.value_and_grad(twin, argnums=wrt)(*args)
    assert value == pytest.approx(float(expected_value), rel=1e-12, abs=1e-12)
    assert value == pytest.approx(function(*args), rel=1e-12, abs=1e-12)  # NumPy's own value
    for ours, theirs in zip(gradient, expected_gradient):
        np.testing.assert_allclose(ours, np.asarray(theirs), rtol=rtol, atol=atol)
    return transform


def numpy_and_jax_modules(source, name):
    """`source` (functions that read `np`) imported twice: with `import numpy as np` and `import jax.numpy as np`."""
    return (write_module("import numpy as np\n" + source, name=name),
            write_module("import jax.numpy as np\n" + source, name=f"{name}_jax"))


def case_matches_jax(numpy_module, jax_module, cases, name, k, atol=1e-11):
    """`matches_jax` for the function `name` of a source written once and imported with NumPy (`numpy_module`) and
    with jax.numpy (`jax_module`), at its k-th case of `cases` (name -> [(arguments, wrt)])."""
    import symgrad as sg

    args, wrt = cases[name][k]
    function = getattr(numpy_module, name)
    return matches_jax(sg.value_and_grad(function, wrt=wrt), function, getattr(jax_module, name), args, wrt,
                       atol=atol)


def case_formulas_display(numpy_module, cases, name):
    """The formulas of the function `name` at its first case of `cases` render (LaTeX and text)."""
    import symgrad as sg

    args, wrt = cases[name][0]
    transform = sg.value_and_grad(getattr(numpy_module, name), wrt=wrt)
    transform(*args)
    assert transform.latex() and transform.pretty()
