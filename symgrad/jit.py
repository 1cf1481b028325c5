"""Compile the kernels of a generated module with Numba, one at a time, only when first needed."""

import numba

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
    return numba.njit([signature], cache=True, error_model="numpy", parallel=name in module.THREADED)(
        getattr(module, name))
