"""The public transforms: `grad` and `value_and_grad`, and the object they return.

Decorating is cheap: nothing is parsed until the first call (or `.latex()`, `.kernels`...).  Then the kernels are
looked up in the derivation cache by a hash of the function's source and everything it reads; only on a miss
are the stages run (frontend -> reverse -> codegen), which is the only path that imports SymPy.  The display is
rendered only when asked for (`.latex()`, `str()`), under its own time budget, and kept in the cache beside the
kernels.  The call path is kept thin: it goes straight to the Numba dispatcher, and only when the dispatcher
refuses the arguments does `_explain_arguments` look at them to name the one that is wrong.  The first call is
thread-safe: each transform derives and compiles once, under its lock.
"""

import contextlib
import functools
import gc
import hashlib
import inspect
import numbers
import os
import sys
import textwrap
import threading
import time
from dataclasses import dataclass

import numpy as np

from . import cache, module_values, passes
from .errors import NonDifferentiableArgumentError


@contextlib.contextmanager
def _progress(message):
    """A one-line status on stderr when the work inside takes over a second; SYMGRAD_QUIET=1 silences it."""
    if os.environ.get("SYMGRAD_QUIET"):
        yield
        return
    started, shown = time.perf_counter(), []

    def show():
        shown.append(True)
        print(f"symgrad: {message}...", file=sys.stderr, flush=True)

    timer = threading.Timer(1.0, show)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        if shown:
            print(f"symgrad: {message}: done in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)


class Kernels:
    """The Numba dispatchers `value`, `grad` and `value_and_grad`, each compiled on first access.

    They are ordinary dispatchers: reference them as globals from your own ``@numba.njit`` code.  The owner (a
    `Transform`, or the `batch.Batched` of `vmap`) has a `_lock` and a `_compiled(name)`."""

    def __init__(self, owner):
        self._owner = owner

    def __getattr__(self, name):
        if name not in cache.KERNEL_NAMES:
            raise AttributeError(name)
        with self._owner._lock:
            if name not in self.__dict__:  # another thread may have compiled it while this one waited
                setattr(self, name, self._owner._compiled(name))  # later lookups do not come here
        return self.__dict__[name]


@dataclass
class _Derivation:
    derivative: object
    kernels: dict
    module_text: str


def _normalise_wrt(function, wrt):
    """Positions and names of the `wrt` arguments, and whether the gradient is a tuple."""
    names = list(inspect.signature(function).parameters)
    as_tuple = isinstance(wrt, (tuple, list))
    items = tuple(wrt) if as_tuple else (wrt,)
    if not items:
        raise ValueError(f"wrt is empty: name at least one argument of {function.__name__}{tuple(names)}")
    positions = []
    for item in items:
        if isinstance(item, str) and item in names:
            positions.append(names.index(item))
        elif isinstance(item, numbers.Integral) and not isinstance(item, bool) and -len(names) <= item < len(names):
            positions.append(int(item) % len(names))
        else:
            raise NonDifferentiableArgumentError(
                f"wrt={item!r}: {function.__name__}() has no such argument; its arguments are {', '.join(names)}")
    if len(set(positions)) != len(positions):
        raise ValueError(f"wrt={wrt!r} names an argument twice")
    return tuple(positions), as_tuple, tuple(names[p] for p in positions)


METHODS = ("auto", "reverse", "forward")
ENTRY_METHODS = {"grad": "__call__", "value": "value", "value_and_grad": "value_and_grad"}  # kernel -> method


def _derive(function, wrt, gradient_as_tuple, parallel, enabled=passes.ALL, method="auto", rewrite=None,
            observed=()):
    """Run the stages in order: parse, differentiate (reverse mode, or forward mode for a few scalars through
    loops, as `method` says) and codegen; `enabled` names the optimisation passes.  They run with room to recurse
    as deep as the source nests.  `rewrite`, when given, maps the lifted program to the one differentiated
    (`symgrad.dask` differentiates a mean's numerator); `observed` holds the kind of each array the first
    call passed (`Transform._observe`).  The display is not run here: a call never waits for formulas."""
    return derive_with(_run_stages, function, wrt, gradient_as_tuple, parallel, enabled, method, rewrite,
                       dict(observed))


def derive_with(stages, *args):
    """`stages(*args)` with room to recurse as deep as the source nests, and the garbage collector paused."""
    from .frontend import with_room_to_recurse

    with _collector_paused():
        return with_room_to_recurse(stages, *args)


@contextlib.contextmanager
def _collector_paused():
    """Python's cyclic garbage collector off for the while: derivation allocates millions of SymPy objects and
    leaves next to no cycles, and the collector's passes over the growing heap cost 10-15% of a big program's
    derivation (3 s of 21 at 5,000 statements) for the same peak memory."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _run_stages(function, wrt, gradient_as_tuple, parallel, enabled, method, rewrite=None, observed=None):
    from .forward import forward, prefers_forward
    from .reverse import reverse

    program = lifted(function, wrt, rewrite=rewrite, observed=observed)
    if method == "forward" and not all(program.argument(name).kind == "float" for name in wrt):
        raise NonDifferentiableArgumentError(
            f"method='forward' carries tangents of float scalars only; {program.name}() is differentiated with "
            f"respect to an array: use method='reverse' or 'auto'")
    use_forward = method == "forward" or (method == "auto" and prefers_forward(program, wrt))
    derivative = (forward(program, wrt, enabled=enabled) if use_forward
                  else reverse(program, wrt, enabled=enabled))
    return built(derivative, wrt, gradient_as_tuple, parallel, enabled)


def lifted(function, wrt, several=False, rewrite=None, observed=None):
    """The Program of a function returning one number (or, when `several`, a tuple of them or an array), checked
    differentiable with respect to `wrt`; `rewrite`, when given, maps the lifted program to the one
    differentiated; `observed` maps an argument to the kind of the array its first call passed."""
    from .frontend import lift

    program = lift(function, observed, array_output=several)
    if rewrite is not None:
        program = rewrite(program)
    if len(program.outputs) != 1 and not several:
        raise TypeError(f"{program.name}() returns a tuple of {len(program.outputs)} values; grad and "
                        "value_and_grad need a function returning one number")
    for name in wrt:
        if program.argument(name).kind in ("int", "index1", "index2"):
            what = "an integer (a loop bound or an index)" if program.argument(name).kind == "int" else \
                "an array of indices (a gather, a table of indices)"
            raise NonDifferentiableArgumentError(
                f"cannot differentiate {program.name}() with respect to {name!r}: it is used as {what} in "
                f"{program.filename}:{program.line}; pass float data as another argument")
    return program


def built(derivative, wrt, gradient_as_tuple, parallel, enabled, extra_source=""):
    """The kernels of a derivative and the text of their module (its arguments are the derived program's), with
    `extra_source` (more functions of the module, such as a Jacobian's `output_shape`) after them."""
    from .codegen import build_kernels, kernels_source

    program = derivative.program
    kernels = build_kernels(derivative, gradient_as_tuple, parallel, enabled)
    source, imports = kernels_source(kernels)
    text = cache.module_text(
        name=program.name, imports=imports,
        arguments=tuple(a.name for a in program.arguments), kinds=tuple(a.kind for a in program.arguments),
        wrt=tuple(wrt), passed=tuple(program.passed_globals), folded=tuple(program.folded_globals),
        kernels=source + extra_source)
    return _Derivation(derivative, kernels, text)


def _array_problem(value, ndim, wanted=None):
    """What is wrong with `value` for a C-contiguous float64 array of `ndim` dimensions, or None; `wanted` says
    what is expected in the message (`vmap`'s batched arrays say where the points are)."""
    wanted = wanted or f"a {ndim}-D float64 array"
    if isinstance(value, (tuple, list)):  # (a default of f's too: f(x, scales=(1.0, 2.0)))
        return f"must be {wanted}, got {type(value).__name__}: pass np.array(...), also in place of a default"
    if not isinstance(value, np.ndarray):
        return f"must be {wanted}, got {type(value).__name__}"[:200] + _foreign_array_advice(value, "dtype=float")
    if value.ndim != ndim:
        return f"must be {wanted}, got an array of shape {value.shape}"
    if value.dtype != np.float64:
        return f"must be a float64 array, got dtype {value.dtype}: pass np.asarray(..., dtype=float)"
    if not value.flags.c_contiguous:
        return "must be C-contiguous: pass np.ascontiguousarray(...)"
    return None


def _foreign_array_advice(value, dtype):
    """For an array of another library (JAX, PyTorch, a memoryview: it has `__array__`): pass it as NumPy's."""
    if isinstance(value, np.ndarray) or not hasattr(value, "__array__"):
        return ""
    shape = getattr(value, "shape", None)
    return f" of shape {tuple(shape)}" * (shape is not None) + f": pass np.asarray(..., {dtype}) of it"


def pattern_key(kinds, values):
    """What a sparsity pattern depends on: the arrays' shapes, the int arguments' values and the contents of the
    arrays of indices (which elements a gather reads, `x[idx]`, `pos[bonds[b, 0]]`): a pattern kept for one key
    serves only calls of that key."""
    return tuple(np.shape(v) if kind.startswith("array") else v if kind == "int" else (
        np.shape(v), hashlib.blake2b(np.ascontiguousarray(v), digest_size=16).digest()) if kind.startswith("index")
        else None for kind, v in zip(kinds, values))


def _observed_kind(array):
    """The kind an array of a first call suggests: an int array of one or two axes indexes (INDEX1, INDEX2), else a
    float array of its axes."""
    if array.ndim in (1, 2) and np.issubdtype(array.dtype, np.integer):
        return f"index{array.ndim}"
    return f"array{array.ndim}"


_NUMBERS = (int, float, np.integer, np.floating)  # what a kernel takes as a number (converted to float64)


def _argument_problem(kind, value):
    """What is wrong with `value` for an argument of `kind`, or None."""
    if kind in ("int", "index1", "index2") and isinstance(value, np.ndarray) and value.dtype == np.bool_:
        return ("is a boolean mask, which symgrad does not take as an argument: pass it as floats "
                "(np.asarray(m, dtype=float)) and index with a comparison (x[m > 0.5])")
    if kind in ("index1", "index2"):
        ndim = int(kind[len("index"):])
        if isinstance(value, np.ndarray) and value.ndim == ndim and value.dtype == np.int64:
            return None if value.flags.c_contiguous else "must be C-contiguous: pass np.ascontiguousarray(...)"
        got = f"an array of shape {value.shape} and dtype {value.dtype}" if isinstance(value, np.ndarray) else \
            type(value).__name__
        return (f"indexes an array, so it must be a {ndim}-D int64 array of indices, got {got}: pass "
                f"np.asarray(..., dtype=np.int64)")
    if kind.startswith("array"):
        return _array_problem(value, int(kind[len("array"):]))
    if kind == "int":
        if isinstance(value, _NUMBERS) and not isinstance(value, (bool, np.bool_)):
            return None
        return f"is used as an integer (a loop bound or an index) and must be an int, got {type(value).__name__}"
    if isinstance(value, _NUMBERS) and not isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):  # (Fraction, Decimal-like)
        return f"must be a float, got {type(value).__name__} {value!s:.60}: pass float(...) of it"
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return "must be a real number (float), got a 0-d array: pass float(...) of it (or its .item())"
    if isinstance(value, np.ndarray) and value.ndim > 3:
        return (f"is an array of {value.ndim} axes (shape {value.shape}): symgrad takes arrays of one to three axes; "
                "pass 3-D slices of it, or reshape it before the call")
    if isinstance(value, np.ndarray):
        return f"must be a real number (float), got an ndarray of shape {value.shape}"
    if isinstance(value, (list, tuple)):
        return (f"must be a real number (float) or a float64 array, got a {type(value).__name__}: pass "
                f"np.array(...) of it for an array, or a float")
    if isinstance(value, (bool, np.bool_)):
        return f"must be a real number (float), got the bool {value!r}: pass {float(value)!r} if that is meant"
    if hasattr(value, "__array__") and not isinstance(value, np.generic):  # (JAX's, PyTorch's arrays)
        if getattr(value, "ndim", None) == 0:
            return f"must be a real number (float), got {type(value).__name__} {value!s:.60}: pass float(...) of it"
        return (f"must be a real number (float), got {type(value).__name__}"
                + _foreign_array_advice(value, "dtype=float") + " where an array is meant")
    if isinstance(value, numbers.Complex):
        return f"must be a real number (float), got the complex number {value!r}"
    return f"must be a real number (float), got {type(value).__name__} {value!r}"[:200] + ": pass a float"


def _explain_arguments(module, name, *args, **keywords):
    """Raise a TypeError naming the argument a kernel's dispatcher could not accept: one left out of the call (the
    dispatcher passes it as its default, `jit.MISSING`, as Python's own message), or one of the wrong type.  `name`
    is the user's function's (a nested gradient's kernels are named after the derived program, `f_dot`)."""
    from .jit import MISSING

    missing = [argument for argument, value in zip(module.ARGUMENTS, args) if getattr(value, "value", None) is MISSING]
    if missing:
        quoted = [repr(argument) for argument in missing]
        listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]
        raise TypeError(f"{name}() missing {len(missing)} required positional "
                        f"argument{'s' if len(missing) > 1 else ''}: {listed}")
    for argument, kind, value in zip(module.ARGUMENTS, module.KINDS, args):
        problem = _argument_problem(kind, value)
        if problem:
            raise TypeError(f"{name}(): argument {argument!r} {problem}")
    raise TypeError(f"{name}() takes {len(module.ARGUMENTS)} argument(s) ({', '.join(module.ARGUMENTS)}); "
                    f"got {', '.join(type(a).__name__ for a in args)}")


def _positional(function, args, keywords):
    """The arguments of a call in the order of `function`'s parameters, or Python's TypeError naming the
    missing or unexpected ones."""
    signature = inspect.signature(function)
    try:
        bound = signature.bind(*args, **keywords)
    except TypeError as error:
        names = list(signature.parameters)
        raise TypeError(f"{function.__name__}() takes {len(names)} argument(s) ({', '.join(names)}), got "
                        f"{len(args) + len(keywords)}: {error}") from None
    bound.apply_defaults()
    return tuple(bound.arguments.values())  # (keyword-only ones too, in their order: the kernels take them all)


def _call_by_position(function, dispatcher, *args, **keywords):
    """Call a kernel with `function`'s arguments bound to positions first (keywords, and `function`'s defaults
    for the arguments left out) when the call does not give every argument by position."""
    code = function.__code__
    if keywords or len(args) != code.co_argcount + code.co_kwonlyargcount:
        return dispatcher(*_positional(function, args, keywords))
    return dispatcher(*args)


def _made_again(cls, args, keywords):
    """`cls(*args, **keywords)`: how a pickled or copied transform is made again (`Transform.__reduce__`)."""
    return cls(*args, **keywords)


class Transform:
    """A differentiated function: call it for the gradient (or value and gradient), read its formulas."""

    def __new__(cls, *args, **keywords):
        # What built the transform, kept for pickling and copying (`__reduce__`) and for `vmap`'s serial twin: the
        # class before `__init__` gives the object a class of its own, and the arguments as given.
        self = super().__new__(cls)
        self._made_with = (cls, args, keywords)
        return self

    def __reduce__(self):
        """Pickled as the function and the options that built it, the function by reference (a module-level
        ``def``), so that a transform travels to a `ProcessPoolExecutor`'s workers; a transform that is itself
        what its module holds under the function's name (``@sg.grad`` over a ``def``) pickles by that name."""
        module = sys.modules.get(getattr(self, "__module__", None) or "")
        held = module
        for part in getattr(self, "__qualname__", "").split("."):
            held = getattr(held, part, None)
        if held is self:
            return self.__qualname__
        return _made_again, self._made_with

    def __copy__(self):
        """A fresh transform of the same function and options: it finds its kernels in the derivation cache (or
        derives them) at its first call."""
        return _made_again(*self._made_with)

    def __deepcopy__(self, memo):
        return self.__copy__()

    def _remade(self, **changes):
        """A new transform made as this one was, with the options in `changes` (``parallel=False``) replaced."""
        cls, args, keywords = self._made_with
        names = list(inspect.signature(cls.__init__).parameters)[1:]
        options = dict(zip(names, args), **keywords)
        options.update(changes)
        return cls(**options)

    def __init__(self, function, wrt, mode, parallel=False, optimize=True, method="auto"):
        if getattr(function, cache.INLINE_ATTRIBUTE, None) is not None:
            raise TypeError(f"{function!r} is already a symgrad transform: apply grad/value_and_grad to the "
                            "plain Python function (its .fun)")
        if not inspect.isfunction(function):
            raise TypeError(f"symgrad differentiates Python functions defined with def, not {type(function).__name__}")
        functools.update_wrapper(self, function)
        self.fun = function
        self._code = function.__code__  # (what the kernels are derived from: `_load` checks it is still f's)
        setattr(self, cache.INLINE_ATTRIBUTE, function)
        self._positions, self._as_tuple, self.wrt = _normalise_wrt(function, wrt)
        self._wrt_argument = wrt  # as given: a twin of this transform (`vmap`) is made from it
        self._mode = mode
        self.parallel = bool(parallel)
        self.passes = passes.enabled(optimize)
        if method not in METHODS:
            raise ValueError(f"method={method!r}: choose one of {', '.join(map(repr, METHODS))}")
        self.method = method
        self._lock = threading.RLock()  # the first calls from several threads derive and compile once
        self._display_lock = threading.RLock()  # formulas: rendering them never holds up a first call
        self._cache_key = None
        self._observed = ()  # (argument, kind) of the arrays the first call passed
        self._call_observed = False  # whether a call has been seen by `_observe`
        self._module = None
        self._derivation = None
        self._rendering = None
        self._display = None
        self.kernels = Kernels(self)
        cls = type(self)
        self.__class__ = type(cls.__name__, (cls,), {"__module__": cls.__module__, "__doc__": cls.__doc__})

    # --- the compiled entry points ----------------------------------------------------------------------
    # Each entry compiles its kernel on first use and then hands every later call straight to the Numba
    # dispatcher (a Python wrapper would add about half the cost of a call: DESIGN.md).  Each transform has
    # a class of its own so that `__call__` can become the dispatcher.  The first call binds keywords itself;
    # later ones are folded by the dispatcher when its parameters carry the user's names (see `_entry`).
    def __call__(self, *args, **keywords):
        """The gradient (or value and gradient) from the compiled kernel."""
        self._observe(args, keywords)
        entry = self._entry(self._mode)
        type(self).__call__ = staticmethod(entry)
        return _call_by_position(self.fun, entry, *args, **keywords)

    def value(self, *args, **keywords):
        """The function's value, from the compiled forward kernel."""
        self._observe(args, keywords)
        self.value = self._entry("value")
        return _call_by_position(self.fun, self.value, *args, **keywords)

    def value_and_grad(self, *args, **keywords):
        """(value, gradient) in one compiled pass."""
        self._observe(args, keywords)
        self.value_and_grad = self._entry("value_and_grad")
        return _call_by_position(self.fun, self.value_and_grad, *args, **keywords)

    def _entry(self, name):
        """What calls of kernel `name` go to: its dispatcher, or a binder in front of it when the dispatcher could
        not fold the call itself: its parameters are not named as the user's (keywords), or the user's function
        has default values (keyword-only ones too), which the generated kernel does not repeat; or (when the function reads module-level
        values) `_with_module_values`."""
        dispatcher = getattr(self.kernels, name)
        module = self._load()
        if module.PASSED or module.FOLDED:
            count = len(module.ARGUMENTS) - len(module.PASSED)
            slow = functools.partial(self._with_module_values, name, dispatcher, count)
            return module_values.checked_call(self.fun, module, dispatcher, slow) or slow
        kernel = getattr(dispatcher, "py_func", dispatcher)  # (a plain function under NUMBA_DISABLE_JIT=1)
        if tuple(inspect.signature(kernel).parameters) == tuple(inspect.signature(self.fun).parameters) \
                and not self.fun.__defaults__ and not self.fun.__kwdefaults__:
            return dispatcher
        return functools.partial(_call_by_position, self.fun, dispatcher)

    def _with_module_values(self, name, dispatcher, count, *args, **keywords):
        """A call of a kernel that reads module-level values: their current values go after the user's
        arguments; when they no longer fit the kernels (a number changed), the kernels are derived again."""
        values = module_values.current(self.fun, self._module)
        if values is None:
            self._forget()
            return getattr(self, ENTRY_METHODS[name])(*args, **keywords)
        if keywords or len(args) != count:
            args = _positional(self.fun, args, keywords)
        return dispatcher(*args, *values)

    def _forget(self):
        """Drop the kernels and formulas: the next call derives (or finds in the cache) those for the globals'
        values now."""
        with self._display_lock, self._lock:  # (in the order rendering takes them: it derives under its lock)
            self._cache_key = self._module = self._derivation = self._rendering = self._display = None
            self.kernels = type(self.kernels)(self)
            if "__call__" in type(self).__dict__:  # (the dispatcher a first call put there)
                delattr(type(self), "__call__")
            for method in ("value", "value_and_grad"):
                self.__dict__.pop(method, None)

    # --- derivation and compilation, cached -----------------------------------------------------------------
    def _observe(self, args, keywords):
        """Remember the number of axes of each array the first call passes: it decides an argument's kind where
        the body does not (`np.exp(x)` alone), so the derivation is keyed by it, as Numba keys by type.  When the
        kernels were derived before any call (`.latex()`, `.source()`, `.kernels` first) and read an array
        differently, they are derived again for the call's ranks (the body still wins where it decides)."""
        if self._call_observed:  # (every call of a second-order transform comes here: one test after the first)
            return
        with self._lock:
            if self._call_observed:
                return
            names = list(inspect.signature(self.fun).parameters)
            try:
                binding = inspect.signature(self.fun).bind(*args, **keywords)
            except TypeError:  # (before deriving: the kinds of a call that leaves out an argument are not its own)
                _positional(self.fun, args, keywords)  # raises Python's TypeError, naming what is missing or extra
            binding.apply_defaults()  # (an array given as a default is passed as one: `w=np.array([...])`)
            bound = binding.arguments
            observed = tuple((name, _observed_kind(bound[name])) for name in names
                             if isinstance(bound.get(name), np.ndarray))
            self._call_observed = True
            if self._observed:
                return
            if self._cache_key is not None:
                module = self._load()
                kinds = dict(zip(module.ARGUMENTS, module.KINDS))
                if all(kinds.get(name) == kind for name, kind in observed):
                    return
            stale, self._observed = self._cache_key is not None, observed
        if stale:
            self._forget()  # (outside `_lock`: `_forget` takes the display lock first, as rendering does)

    def _key(self):
        if self.fun.__code__ is not self._code:
            self._stale()
        with self._lock:
            if self._cache_key is None:
                options = (self.parallel, tuple(sorted(self.passes)), self.method, self._observed) + self._variant()
                self._cache_key = cache.derivation_key(self.fun, self._positions, self._as_tuple, options)
            return self._cache_key

    def _load(self):
        if self.fun.__code__ is not self._code:
            self._stale()
        with self._lock:
            if self._module is None:
                try:
                    self._module = cache.load(self._key()) or cache.store(self._key(), self._derived().module_text)
                except Exception:
                    # The kinds a first call's arrays gave may be why (a number passed as an array): the next
                    # call decides them again, rather than every later call failing as the first did.
                    self._observed, self._call_observed, self._cache_key = (), False, None
                    raise
            return self._module

    def _stale(self):
        """Refuse a function whose __code__ was replaced since its kernels were derived (IPython's autoreload does it
        when the file is edited): they, and the formulas, would be the old code's.  Before that, the transform
        takes the code f has now."""
        from .errors import StaleSourceError

        with self._lock:
            if self._cache_key is None and self._module is None and self._derivation is None:
                self._code = self.fun.__code__
                return
        raise StaleSourceError(
            f"{self.fun.__name__}() was changed after the kernels of {self!r} were made (a module reloaded in "
            f"place, as IPython's autoreload does, or __code__ assigned): they are the old code's; make the "
            f"transform again from the function as it is now")

    def _derived(self):
        with self._lock:
            if self._derivation is None:
                with _progress(f"deriving {self.fun.__name__}()"):
                    self._derivation = self._derive()
            return self._derivation

    def _variant(self):
        """What tells this transform's kernels apart from those of another transform of the same function."""
        return ()

    def _derive(self):
        return _derive(self.fun, self.wrt, self._as_tuple, self.parallel, self.passes, self.method,
                       observed=self._observed)

    def _compiled(self, name):
        """The dispatcher of kernel `name`.  An entry that does not compile (a corrupt Numba file beside it) is
        discarded and compiled once more from a fresh module, with Numba's files gone."""
        from .jit import compile_kernel

        for retry in (False, True):
            module = self._load()
            try:
                with _progress(f"compiling the {name} kernel of {module.NAME}()"):
                    dispatcher = compile_kernel(module, name)
                break
            except Exception as error:
                if retry:
                    raise cache.KernelCompileError(module.NAME, name, error) from None
                problem = f"its {name} kernel does not compile ({type(error).__name__}: {error})"
                cache.discard(self._key(), problem[:300])
                self._module = None
        # Numba calls this when no signature matches the arguments: name the argument that is wrong.
        dispatcher._explain_matching_error = functools.partial(self._refused, module)
        return dispatcher

    def _refused(self, module, *args, **keywords):
        """Raise the TypeError naming the argument a call passed wrong.  Kernels derived for kinds other than those
        the first call's arrays had (`lift` took the body's kind of an argument to name it) are dropped first: they
        served to name it, and the next call, with that argument right, derives for its own arrays."""
        kinds = dict(zip(module.ARGUMENTS, module.KINDS))
        if any(kinds.get(name, kind) != kind for name, kind in self._observed):
            with self._lock:
                self._observed, self._call_observed = (), False
            self._forget()
        _explain_arguments(module, self.fun.__name__, *args, **keywords)

    # --- formulas and source ----------------------------------------------------------------------------
    def _rendered(self):
        """The display of the derivative (imports SymPy), rendered once within its time budget."""
        from .display import render_within

        with self._display_lock:
            if self._rendering is None:
                derivative = self._derived().derivative
                with _progress(f"rendering the formulas of {self.fun.__name__}()"):
                    self._rendering = render_within(derivative)
            return self._rendering

    def _shown(self):
        """The LaTeX and text of the formulas: from the cache when a process rendered them before (no SymPy)."""
        with self._display_lock:
            if self._display is None:
                self._display = cache.load_display(self._key())
                if self._display is None:
                    rendering = self._rendered()
                    self._display = {"latex": rendering.latex, "text": rendering.text}
                    cache.store_display(self._key(), self._display)
            return self._display

    def latex(self):
        """The function and every partial derivative, as a LaTeX ``aligned`` block."""
        return self._shown()["latex"]

    def _repr_latex_(self):
        return f"$${self.latex()}$$"

    @property
    def expressions(self):
        """The SymPy expressions behind `.latex()`: name -> sympy.Expr."""
        return dict(self._rendered().expressions)

    def source(self):
        """The generated Python source of the kernels (the module Numba compiles), after a line naming this
        function's own file: identical functions in several files share one module."""
        filename = inspect.getsourcefile(self.fun) or self.fun.__code__.co_filename
        return f"# kernels of {self.fun.__name__}() from {filename}:{self.fun.__code__.co_firstlineno}\n" + \
            self._load().SOURCE

    def pretty(self, use_unicode=True):
        """The function and every partial drawn by SymPy's pretty printer (2-D fractions, sums, cases), for a
        terminal; ``use_unicode=False`` draws them in ASCII.  It derives (imports SymPy), as `.expressions` does."""
        from .display import pretty

        return pretty(self._derived().derivative, self._rendered(), use_unicode)

    def to_markdown(self, source=True):
        """The function's Python source (a ``python`` code block, unless ``source=False``) and its formulas (a
        ``$$`` math block), for documentation pages and notebooks' Markdown cells."""
        parts = ["```python\n" + textwrap.dedent(inspect.getsource(self.fun)).rstrip() + "\n```"] if source else []
        parts.append("$$\n" + self.latex() + "\n$$")
        return "\n\n".join(parts) + "\n"

    def __str__(self):
        return self._shown()["text"]

    def __repr__(self):
        arguments = ", ".join(inspect.signature(self.fun).parameters)
        return f"<symgrad.{self._mode} of {self.fun.__name__}({arguments}) wrt {', '.join(self.wrt)}>"


def _transform(mode, function, wrt, parallel, optimize, method):
    if function is None:
        return lambda f: _transform(mode, f, wrt, parallel, optimize, method)
    if isinstance(function, Transform):  # grad(grad(f)): the gradient of a gradient
        from .second_order import nested

        return nested(function, wrt, mode, parallel, optimize)
    return Transform(function, wrt, mode, parallel, optimize, method)


def grad(function=None, wrt=0, parallel=False, optimize=True, method="auto"):
    """The gradient of a scalar function w.r.t. `wrt` (a name, a position, or a tuple of them).

    Called, it returns a float for one argument and a tuple for a tuple `wrt`.  Works bare (``@grad``) and with
    options (``@grad(wrt="w")``).  ``parallel=True`` runs each long loop whose iterations only add into sums
    (a loss over the rows of data) on Numba's threads; it is opt-in because a kernel called from the user's
    own threads or ``prange`` would then start threads inside threads.

    ``optimize=False`` turns every kernel optimisation pass off, and ``optimize={"name": False}`` the named ones
    (see `symgrad.passes`); ``method="reverse"`` or ``"forward"`` overrides the choice of mode (forward mode
    applies to float scalars only)."""
    return _transform("grad", function, wrt, parallel, optimize, method)


def value_and_grad(function=None, wrt=0, parallel=False, optimize=True, method="auto"):
    """Like `grad`, but calling it returns ``(value, gradient)`` from one compiled pass."""
    return _transform("value_and_grad", function, wrt, parallel, optimize, method)


def vmap(transform, in_axes=0):
    """`transform` evaluated at many points by one compiled kernel whose loop over the points runs on Numba's
    threads: `in_axes` has one entry per argument, 0 for an argument batched along its leading axis, None for
    one shared by every point (as `jax.vmap`).  The call returns what `transform` returns, stacked along a new
    leading axis; `.kernels` holds the batch kernels for your own ``@numba.njit`` code.

    The points run the transform's serial kernels (a ``parallel=True`` transform is derived once more without
    threads: threads inside threads would oversubscribe the cores), so each point's result is the serial call's,
    bit for bit, whatever the number of threads."""
    from .batch import Batched

    from .second_order import NestedGrad

    if not isinstance(transform, Transform):
        raise TypeError(f"vmap maps a symgrad transform (sg.grad or sg.value_and_grad of a function), not "
                        f"{type(transform).__name__}")
    if type(transform).__mro__[1] not in (Transform, NestedGrad):  # (each transform has a class of its own)
        raise TypeError(f"vmap maps sg.grad and sg.value_and_grad transforms (nested ones too, "
                        f"sg.grad(sg.grad(f))), not {transform!r}: evaluate it point by point in a Python loop, "
                        f"np.stack([t(*point) for point in zip(...)]), or map sg.grad of a function that computes "
                        f"the product you need")
    if transform.parallel:  # (the points run its serial kernels: the same transform made with parallel=False)
        transform = transform._remade(parallel=False)
    batched = Batched(transform, in_axes, transform._as_tuple, _positional, _array_problem)
    batched.kernels = Kernels(batched)  # the batch kernels, each compiled on first access (`Batched._compiled`)
    return batched
