"""Module-level values a differentiated function reads, found again at every call, as Python would.

A kernel never keeps a stale copy of a global.  A module-level array (or list of numbers) becomes a hidden
argument of the kernels: the generated module lists its path in ``PASSED``, and each call reads the global's
current value and passes it after the user's arguments, so a changed element is seen at no cost.  A
module-level number is folded into the kernels (loop bounds and exponents need it as a constant): the module
lists its path and its value in ``FOLDED``, and a call that finds another value derives the kernels again for
it (the derivation key hashes the value, so each value is derived once and then found in the cache).  A path
is the names leading from the differentiated function to the value: ``("A",)`` for its global A,
``("helper", "A")`` for the global A of a helper it calls by name, ``("cfg", "A")`` for a module attribute.
A module-level helper function is inlined, so it is folded in too and checked the same way: its description is
the fingerprint of its source (`cache.describe_helper`), so rebinding it to another body derives again.
Like `cache`, this module imports neither SymPy nor Numba.
"""

import builtins
import inspect
import types

import numpy as np

from .cache import IMPORTED, INLINE_ATTRIBUTE, describe_helper, imported

# Modules whose numbers are constants (np.pi, math.e): read once, not checked at each call.
LIBRARIES = frozenset({"numpy", "math", "cmath", "scipy"})


def not_passed(what, name, paths):
    """The TypeError of a transform whose kernels take only the user's arguments (vmap, second order, Dask), for
    a function that reads module-level arrays (`paths`), or None when it reads none."""
    if not paths:
        return None
    return TypeError(f"{what} of {name}(): it reads the module-level array {spelled(paths[0])!r}, which only "
                     "sg.grad and sg.value_and_grad pass to their kernels at each call: pass it as an argument")


def spelled(path):
    """A path (`Frame.global_path`) as the source spells what it reads: `cfg.A` (also after `import cfg` inside
    the function), or `SHIFT` for `from cfg import SHIFT` inside it."""
    if path[0].startswith(IMPORTED):
        dotted = path[0][len(IMPORTED):]
        path = (dotted if len(path) > 1 else dotted.rsplit(".", 1)[-1],) + tuple(path[1:])
    return ".".join(path)


def read(function, path):
    """The current value at `path` from `function`: its closure cells, then its globals, then the builtins,
    and attributes of a module; NameError as Python raises it when a name is gone.  A path starting at what an
    import inside the function binds (`IMPORTED`) starts from that module, imported again, as each call would."""
    value = function
    if path and path[0].startswith(IMPORTED):
        value, path = imported(path[0][len(IMPORTED):]), path[1:]
    for name in path:
        if type(value) is not types.FunctionType:  # (a symgrad transform called as a helper, or a module)
            value = getattr(value, INLINE_ATTRIBUTE, value)
        if type(value) is types.FunctionType:
            free = value.__code__.co_freevars
            if name in free:
                value = value.__closure__[free.index(name)].cell_contents
            elif name in value.__globals__:
                value = value.__globals__[name]
            elif hasattr(builtins, name):
                value = getattr(builtins, name)
            else:
                raise NameError(f"name {name!r} is not defined (read by {function.__name__}())")
        else:
            value = getattr(value, name)
    return value


def checked_call(function, module, kernel, slow):
    """For a module that folds numbers and passes no arrays: a function with `function`'s parameters that calls
    `kernel` when every folded number is still the very object the kernels were derived for (the common call: one
    dict lookup and one identity test per number, no wrapper of `*args`), and `slow` otherwise, which decides (an
    equal number rebound is still the same value; a deleted global raises NameError).  None when a path is not a
    plain global, a number is no longer that value, or the parameters are not plain positional ones without
    defaults: `slow` then takes every call."""
    code = function.__code__
    names = code.co_varnames[:code.co_argcount]
    if (module.PASSED or function.__defaults__ or code.co_kwonlyargcount or code.co_posonlyargcount
            or code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS)
            or any(name.startswith("_symgrad_") for name in names)):
        return None
    namespace = {"_symgrad_globals": function.__globals__, "_symgrad_kernel": kernel, "_symgrad_slow": slow}
    tests = []
    for k, (path, described) in enumerate(module.FOLDED):
        if len(path) != 1 or path[0] in code.co_freevars or path[0] not in function.__globals__:
            return None
        value = function.__globals__[path[0]]
        if describe_helper(value) != described:
            return None  # (already changed: the kernels are not the value's, and the slow path derives again)
        namespace[f"_symgrad_value{k}"] = value
        tests.append(f"_symgrad_globals[{path[0]!r}] is _symgrad_value{k}")
    parameters = ", ".join(names)
    exec(f"def _symgrad_checked({parameters}):\n"
         f"    try:\n"
         f"        if {' and '.join(tests)}:\n"
         f"            return _symgrad_kernel({parameters})\n"
         f"    except KeyError:\n"
         f"        pass\n"
         f"    return _symgrad_slow({parameters})\n", namespace)
    checked = namespace["_symgrad_checked"]
    checked.__name__, checked.__qualname__ = function.__name__, function.__qualname__  # (Python's TypeErrors)
    return checked


def current(function, module):
    """The values to pass after the user's arguments (float64, C-contiguous), or None when the kernels of
    `module` no longer fit the globals (a number changed, an array changed its number of axes): derive again."""
    for path, described in module.FOLDED:
        if describe_helper(read(function, path)) != described:
            return None
    if not module.PASSED:
        return ()
    values = []
    for path, kind in zip(module.PASSED, module.KINDS[-len(module.PASSED):]):
        value = read(function, path)
        if not (isinstance(value, np.ndarray) and value.dtype == np.float64 and value.flags.c_contiguous):
            try:
                value = np.asarray(value)
                if value.dtype.kind not in "biuf":
                    raise TypeError(f"its items are {value.dtype}")
                value = np.ascontiguousarray(value, dtype=np.float64)
            except (TypeError, ValueError) as error:
                raise TypeError(f"{function.__name__}(): the module-level {'.'.join(path)!r} it reads must hold "
                                f"real numbers, as when it was derived ({error})") from None
        if value.ndim != int(kind.removeprefix("array")):
            return None
        values.append(value)
    return tuple(values)
