"""Compile the kernels of a generated module with Numba, one at a time, only when first needed.

The dispatchers resolve arguments with a conversion table of their own (`_CONVERSIONS`): Numba's default one
converts `True` to 1.0, and symgrad refuses booleans as numbers.  Numba's C dispatch still runs every call, so
the happy path costs what a plain ``@njit`` function costs.
"""

import os

import numba
from numba.core import types
from numba.core.registry import CPUDispatcher
from numba.core.typeconv import Conversion
from numba.core.typeconv.typeconv import TypeManager

# One signature per argument kind: a derivation serves every value and every array length.
NUMBA_TYPES = {
    "float": numba.float64,
    "int": numba.float64,  # checked to be whole and converted inside the kernel
    "array1": numba.float64[::1],
    "array2": numba.float64[:, ::1],
}

# Every real number converts to float64, booleans do not (Numba's default table lets True through as 1.0).
_CONVERSIONS = TypeManager()
for _number in (set(types.integer_domain) | set(types.real_domain)) - {types.float64}:
    _CONVERSIONS.set_compatible(_number, types.float64, Conversion.unsafe)


class KernelDispatcher(CPUDispatcher):
    """A Numba dispatcher that matches arguments with `_CONVERSIONS` and also takes read-only arrays.

    Kernels never write their arguments, so a read-only float64 array (``np.frombuffer``, a read-only memmap, a
    JAX array through ``np.asarray``) runs the compiled code for the writable one: no second compilation."""

    # Numba's base __init__ assigns its default table; this class keeps its own (and ignores that assignment).
    _tm = property(lambda self: _CONVERSIONS, lambda self, value: None)

    def _search_new_conversions(self, *args, **kws):
        """Numba's hook when no signature matches: register read-only -> writable for our float64 arrays."""
        found = False
        for signature in self.nopython_signatures:
            for actual, formal in zip(map(self.typeof_pyval, args), signature.args):
                if (isinstance(actual, types.Array) and not actual.mutable
                        and actual.copy(readonly=False) == formal):
                    _CONVERSIONS.set_compatible(actual, formal, Conversion.safe)
                    found = True
        return found


def compile_kernel(module, name):
    """A Numba dispatcher for one kernel, typed from the module's argument kinds and cached on disk beside it."""
    if numba.config.DISABLE_JIT:  # NUMBA_DISABLE_JIT=1: the kernels run as plain Python, as Numba's own would
        return getattr(module, name)
    signature = tuple(NUMBA_TYPES[kind] for kind in module.KINDS)
    dispatcher = KernelDispatcher(getattr(module, name), targetoptions={
        "nopython": True, "boundscheck": None, "error_model": "numpy", "parallel": name in module.THREADED})
    # Numba's files are pickles: use them only beside the module, in the directory symgrad checked.  When that
    # directory is read-only, Numba would go to a directory of its own; a module kept in memory has no file at all.
    filename = dispatcher.py_func.__code__.co_filename
    if os.path.isfile(filename) and os.access(os.path.dirname(filename), os.W_OK):
        dispatcher.enable_caching()
    dispatcher.compile(signature)
    dispatcher.disable_compile()
    return dispatcher
