"""Compile the kernels of a generated module with Numba, one at a time, only when first needed.

The dispatchers resolve arguments with a conversion table of their own (`_CONVERSIONS`): Numba's default one
converts `True` to 1.0, and symgrad refuses booleans as numbers.  Numba's C dispatch still runs every call, so
the happy path costs what a plain ``@njit`` function costs.
"""

import contextlib
import os
import types as python_types
import warnings

import numba
from numba.core import types
from numba.core.caching import FunctionCache
from numba.core.compiler_lock import global_compiler_lock
from numba.core.registry import CPUDispatcher
from numba.core.typeconv import Conversion
from numba.core.typeconv.typeconv import TypeManager
from numba.core.types.functions import BaseFunction
from numba.core.typing.context import BaseContext

from .cache import CacheWarning

# One signature per argument kind: a derivation serves every value and every array length.
NUMBA_TYPES = {
    "float": numba.float64,
    "int": numba.float64,  # checked to be whole and converted inside the kernel
    "array1": numba.float64[::1],
    "array2": numba.float64[:, ::1],
    "array3": numba.float64[:, :, ::1],
    "index1": numba.int64[::1],
    "index2": numba.int64[:, ::1],
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


def explicit_prange():
    """Numba's `parallel` option for the function that runs a kernel's loop in chunks
    (`codegen.Kernel._outlining_chunks`): threads for its `prange` loop alone.  Numba's other conversions to
    parallel loops (np.zeros, array expressions) would start threads for every small array.  A new dict each
    time: Numba's `ParallelOptions` pops the keys of the one it is given, and an emptied dict means every
    conversion on (the vectorised MLP at 100 rows ran 2.7x slower once another threaded kernel had compiled)."""
    return {"prange": True, "numpy": False, "comprehension": False, "reduction": False, "inplace_binop": False,
            "setitem": False, "stencil": False, "fusion": False}


class _Missing:
    """The default value a kernel's dispatcher gives every parameter (`compile_kernel`): an argument left out of a
    call arrives at the dispatcher's error hook as this, which can then name it, as Python does."""

    def __repr__(self):
        return "<missing>"


MISSING = _Missing()


def compile_kernel(module, name, nogil=False):
    """A Numba dispatcher for one kernel, typed from the module's argument kinds and cached on disk beside it.  Its
    parameters default to `MISSING` (no compiled signature takes it), so that a call leaving one out reaches
    `_explain_matching_error` with it, at no cost to the calls that give them all."""
    signature = tuple(NUMBA_TYPES[kind] for kind in module.KINDS)
    return compile_function(module, name, signature, parallel=False, nogil=nogil, missing=True)


def _with_missing_defaults(function):
    """A copy of `function` (the same code and globals) whose parameters default to `MISSING`."""
    copy = python_types.FunctionType(function.__code__, function.__globals__, function.__name__,
                                     (MISSING,) * function.__code__.co_argcount, function.__closure__)
    copy.__qualname__, copy.__module__, copy.__doc__ = function.__qualname__, function.__module__, function.__doc__
    return copy


def compile_function(module, name, signature, parallel, nogil=False, missing=False):
    """A `KernelDispatcher` for the function `name` of a generated module, compiled for `signature` alone (later
    calls never compile again) and cached on disk beside the module when symgrad checked its directory.
    ``nogil=True`` releases the GIL while it runs, for callers on several Python threads (Dask's workers)."""
    if numba.config.DISABLE_JIT:  # NUMBA_DISABLE_JIT=1: the kernels run as plain Python, as Numba's own would
        return getattr(module, name)
    function = getattr(module, name)
    dispatcher = KernelDispatcher(_with_missing_defaults(function) if missing else function, targetoptions={
        "nopython": True, "boundscheck": None, "error_model": "numpy",
        "parallel": explicit_prange() if parallel else False, "nogil": nogil})
    # Numba's files are pickles: use them only beside the module, in the directory symgrad checked.  When that
    # directory is read-only, Numba would go to a directory of its own; a module kept in memory has no file at all.
    filename = dispatcher.py_func.__code__.co_filename
    caching = os.path.isfile(filename) and os.access(os.path.dirname(filename), os.W_OK)
    if caching:
        dispatcher._cache = TolerantCache(dispatcher.py_func)
    _wrap_pieces(module, name, caching)
    with global_compiler_lock, scalar_typing_memo():
        dispatcher.compile(signature)
    dispatcher.disable_compile()
    return dispatcher


# The functions codegen outlines from a kernel (``_<kernel>_<kind><k>``), by kind: whether Numba compiles it for threads.
OUTLINED_THREADED = {"piece": False, "chunks": True, "flat": False}


def _wrap_pieces(module, name, caching):
    """The functions a kernel calls for its pieces (see `codegen.Kernel.pieces`) and for its loops run on threads
    (``_<kernel>_chunks<k>``, compiled with ``parallel=True``) as Numba dispatchers, cached where the kernel is;
    Numba compiles each for the types the kernel calls it with."""
    for attribute, function in list(vars(module).items()):
        kind = next((k for k in OUTLINED_THREADED if attribute.startswith(f"_{name}_{k}")), None)
        if kind is None or not isinstance(function, python_types.FunctionType):
            continue
        threads = {"parallel": explicit_prange()} if OUTLINED_THREADED[kind] else {}
        piece = numba.njit(error_model="numpy", boundscheck=None, **threads)(function)
        if caching:
            piece._cache = TolerantCache(function)
        setattr(module, attribute, piece)


class TolerantCache(FunctionCache):
    """Numba's on-disk cache of a kernel's machine code, where a file that does not load is a miss, not an error.

    symgrad verifies its own module before use, but Numba's index and data files beside it are pickles that
    another process can truncate or delete between that check and Numba's read (a crash in the middle of a
    write, a full disk, the stress run's corrupter).  Numba would raise `UnpicklingError` or `EOFError` from
    inside the first call.  Here such a file is removed with one warning and the kernel compiles again; Numba
    then writes fresh files (by rename, so a reader never sees half of one).  A failed write only loses the
    cache, never the call."""

    def load_overload(self, sig, target_context):
        try:
            return super().load_overload(sig, target_context)
        except Exception as error:  # noqa: BLE001 (any unreadable file is a miss; compiling again is always right)
            self._drop_index(error)
            return None

    def save_overload(self, sig, data):
        try:
            super().save_overload(sig, data)
        except Exception as error:  # noqa: BLE001 (the kernel is compiled; only its cached copy is lost)
            self._drop_index(error)

    def _drop_index(self, error):
        index = self._cache_file._index_path
        with contextlib.suppress(OSError):
            os.remove(index)
        warnings.warn(f"symgrad: discarded Numba's cached file {os.path.basename(index)} "
                      f"({type(error).__name__}: {str(error)[:100]}); compiling the kernel again", CacheWarning,
                      stacklevel=2)


@contextlib.contextmanager
def scalar_typing_memo():
    """Numba resolving the type of ``a * b`` on two float64s once per compile instead of once per operation.

    Numba types each operation of a function by trying every template registered for the operator, NumPy's
    ufunc loops included, and formats an error message for each one that does not match; then lowering does it
    again.  A kernel of thousands of straight-line statements spends most of its compile time there, each time
    finding the same answer.  While a kernel compiles (under Numba's compiler lock, so that no other compile
    sees the patch), resolutions on scalar numbers are remembered; the first resolution of each pair of types
    still runs Numba's own code, which is what records the implementation key that lowering looks up.  So are
    the types of constants and of builtin functions used as values."""
    original = BaseFunction.get_call_type
    if getattr(original, "symgrad_memo", False):  # already inside one (a kernel calling a piece)
        yield
        return
    memo = {}

    def get_call_type(self, context, args, kws):
        if kws or not all(isinstance(a, types.Number) for a in args):
            return original(self, context, args, kws)
        key = (self, id(context), tuple(args))  # (a list where Numba lowers a parfor nested in a prange)
        signature = memo.get(key)
        if signature is None:
            signature = memo[key] = original(self, context, args, kws)
        return signature

    original_value_type = BaseContext.resolve_value_type
    values = {}

    def resolve_value_type(self, value):
        # `operator.mul` and friends: Numba first fails to type them as values, formatting an error message
        if type(value) not in MEMO_VALUE_TYPES:
            return original_value_type(self, value)
        key = (id(self), type(value), value)
        found = values.get(key)
        if found is None:
            found = values[key] = original_value_type(self, value)
        return found

    get_call_type.symgrad_memo = True
    BaseFunction.get_call_type = get_call_type
    BaseContext.resolve_value_type = resolve_value_type
    try:
        yield
    finally:
        BaseFunction.get_call_type = original
        BaseContext.resolve_value_type = original_value_type


MEMO_VALUE_TYPES = {float, int, python_types.BuiltinFunctionType}
