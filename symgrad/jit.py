"""Compile the kernels of a generated module with Numba, one at a time, only when first needed."""

import contextlib

import numba
from numba.core import types
from numba.core.compiler_lock import global_compiler_lock
from numba.core.types.functions import BaseFunction

# One signature per argument kind: a derivation serves every value and every array length.
NUMBA_TYPES = {
    "float": numba.float64,
    "int": numba.float64,  # checked to be whole and converted inside the kernel
    "array1": numba.float64[::1],
    "array2": numba.float64[:, ::1],
}


def compile_kernel(module, name):
    """A Numba dispatcher for one kernel, typed from the module's argument kinds and cached on disk."""
    signature = tuple(NUMBA_TYPES[kind] for kind in module.KINDS)
    with global_compiler_lock, scalar_typing_memo():
        return numba.njit([signature], cache=True, error_model="numpy", parallel=name in module.THREADED)(
            getattr(module, name))


@contextlib.contextmanager
def scalar_typing_memo():
    """Numba resolving the type of ``a * b`` on two float64s once per compile instead of once per operation.

    Numba types each operation of a function by trying every template registered for the operator, NumPy's
    ufunc loops included, and formats an error message for each one that does not match; then lowering does it
    again.  A kernel of thousands of straight-line statements spends most of its compile time there, each time
    finding the same answer.  While a kernel compiles (under Numba's compiler lock, so that no other compile
    sees the patch), resolutions on scalar numbers are remembered; the first resolution of each pair of types
    still runs Numba's own code, which is what records the implementation key that lowering looks up."""
    original = BaseFunction.get_call_type
    if getattr(original, "symgrad_memo", False):  # already inside one (a kernel calling a piece)
        yield
        return
    memo = {}

    def get_call_type(self, context, args, kws):
        if kws or not all(isinstance(a, types.Number) for a in args):
            return original(self, context, args, kws)
        key = (self, id(context), args)
        signature = memo.get(key)
        if signature is None:
            signature = memo[key] = original(self, context, args, kws)
        return signature

    get_call_type.symgrad_memo = True
    BaseFunction.get_call_type = get_call_type
    try:
        yield
    finally:
        BaseFunction.get_call_type = original
