"""The references every corpus gradient is checked against, none of which shares code with symgrad.

* JAX: the corpus module's own source run again with NumPy and SciPy bound to jax.numpy and jax.scipy (its import
  statements are rebound, nothing else changes), then ``jax.value_and_grad`` in float64.
* Central differences with Richardson extrapolation of the NumPy function itself (tests/conftest.py's
  `richardson_gradient`), for every entry, JAX or not.
"""

import ast
import functools
import importlib
import inspect
import os
import sys

import numpy as np

_TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from conftest import richardson_gradient  # noqa: E402  (tests/ is on the path only from here on)

# What each import of a corpus module becomes under JAX: module -> its JAX twin.
JAX_MODULES = {"numpy": "jax.numpy", "scipy.special": "jax.scipy.special", "scipy.stats": "jax.scipy.stats"}


def jax():
    """JAX on the CPU in float64, imported once."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax as module

    module.config.update("jax_enable_x64", True)
    return module


def _twin_module(name):
    return importlib.import_module(JAX_MODULES.get(name, name))


@functools.lru_cache(maxsize=None)
def jax_namespace(module_name):
    """The corpus module's functions re-run with its NumPy and SciPy imports bound to JAX's."""
    jax()
    module = importlib.import_module(module_name)
    tree = ast.parse(inspect.getsource(module))
    namespace = {"__name__": module_name + "[jax]", "__package__": module.__package__}
    body = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                namespace[alias.asname or alias.name] = _twin_module(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            for alias in node.names:
                namespace[alias.asname or alias.name] = getattr(_twin_module(node.module), alias.name)
        else:
            body.append(node)
    exec(compile(ast.Module(body=body, type_ignores=[]), module.__file__, "exec"), namespace)  # noqa: S102
    return namespace


def jax_value_and_grad(entry, args):
    """(value, tuple of gradients) of the entry's own source under JAX."""
    module = jax()
    twin = jax_namespace(entry.function.__module__)[entry.function.__name__]
    value, gradients = module.value_and_grad(twin, argnums=entry.positions())(*args)
    return float(value), tuple(np.asarray(g, dtype=float) for g in gradients)


def jitted(entry):
    """The jitted value_and_grad of the entry's source under JAX, non-wrt arguments traced too (as a user's
    training loop passes its data)."""
    module = jax()
    twin = jax_namespace(entry.function.__module__)[entry.function.__name__]
    static = tuple(i for i, a in enumerate(entry.args()) if isinstance(a, int))
    return module.jit(module.value_and_grad(twin, argnums=entry.positions()), static_argnums=static)


def richardson(entry, args):
    """The gradients of the NumPy function by central differences with Richardson extrapolation."""
    return tuple(np.asarray(richardson_gradient(entry.function, args, p), dtype=float) for p in entry.positions())

