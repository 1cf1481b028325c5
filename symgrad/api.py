"""The public transforms: `grad` and `value_and_grad`, and the object they return.

Decorating is cheap: nothing is parsed until the first call (or `.latex()`, `.kernels`...).  Then the kernels are
looked up in the derivation cache by a hash of the function's source and everything it reads; only on a miss
are the stages run (frontend -> reverse -> codegen, with display beside), which is the only path that imports
SymPy.  The call path is kept thin: it goes straight to the Numba dispatcher, and only when the dispatcher
refuses the arguments does `_explain_arguments` look at them to name the one that is wrong.
"""

import contextlib
import functools
import inspect
import numbers
import os
import pathlib
import sys
import textwrap
import threading
import time
from dataclasses import dataclass

import numpy as np

from . import cache, passes
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

    They are ordinary dispatchers: reference them as globals from your own ``@numba.njit`` code."""

    def __init__(self, owner):
        self._owner = owner

    def __getattr__(self, name):
        if name not in cache.KERNEL_NAMES:
            raise AttributeError(name)
        from .jit import compile_kernel

        module = self._owner._load()
        with _progress(f"compiling the {name} kernel of {module.NAME}()"):
            dispatcher = compile_kernel(module, name)
        # Numba calls this when no signature matches the arguments: name the argument that is wrong.
        dispatcher._explain_matching_error = functools.partial(_explain_arguments, module)
        setattr(self, name, dispatcher)  # later lookups find the attribute without coming here
        return dispatcher


@dataclass
class _Derivation:
    derivative: object
    kernels: dict
    rendering: object
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


def _derive(function, wrt, gradient_as_tuple, parallel, enabled=passes.ALL, method="auto"):
    """Run the stages in order: parse, differentiate (reverse mode, or forward mode for a few scalars through
    loops, as `method` says), codegen, and display beside them; `enabled` names the optimisation passes.  They run
    with room to recurse as deep as the source nests."""
    from .frontend import with_room_to_recurse

    return with_room_to_recurse(_run_stages, function, wrt, gradient_as_tuple, parallel, enabled, method)


def _run_stages(function, wrt, gradient_as_tuple, parallel, enabled, method):
    from .codegen import build_kernels, kernels_source
    from .display import render
    from .forward import forward, prefers_forward
    from .frontend import lift
    from .reverse import reverse

    program = lift(function)
    if len(program.outputs) != 1:
        raise TypeError(f"{program.name}() returns a tuple of {len(program.outputs)} values; grad and "
                        "value_and_grad need a function returning one number")
    for name in wrt:
        if program.argument(name).kind == "int":
            raise NonDifferentiableArgumentError(
                f"cannot differentiate {program.name}() with respect to {name!r}: it is used as an integer (a loop "
                f"bound or an index) in {program.filename}:{program.line}; pass float data as another argument")
    if method == "forward" and not all(program.argument(name).kind == "float" for name in wrt):
        raise NonDifferentiableArgumentError(
            f"method='forward' carries tangents of float scalars only; {program.name}() is differentiated with "
            f"respect to an array: use method='reverse' or 'auto'")
    use_forward = method == "forward" or (method == "auto" and prefers_forward(program, wrt))
    derivative = forward(program, wrt) if use_forward else reverse(program, wrt, enabled=enabled)
    kernels = build_kernels(derivative, gradient_as_tuple, parallel, enabled)
    rendering = render(derivative)
    source, imports = kernels_source(kernels)
    text = cache.module_text(
        name=program.name, filename=program.filename, line=program.line, imports=imports,
        arguments=tuple(a.name for a in program.arguments), kinds=tuple(a.kind for a in program.arguments),
        wrt=tuple(wrt), threaded=tuple(name for name, kernel in kernels.items() if kernel.threaded()),
        latex=rendering.latex, text=rendering.text, kernels=source)
    return _Derivation(derivative, kernels, rendering, text)


def _argument_problem(kind, value):
    """What is wrong with `value` for an argument of `kind`, or None."""
    if kind in ("array1", "array2"):
        ndim = 1 if kind == "array1" else 2
        if not isinstance(value, np.ndarray):
            return f"must be a {ndim}-D float64 array, got {type(value).__name__}"[:200]
        if value.ndim != ndim:
            return f"must be a {ndim}-D float64 array, got an array of shape {value.shape}"
        if value.dtype != np.float64:
            return f"must be a float64 array, got dtype {value.dtype}: pass np.asarray(..., dtype=float)"
        if not value.flags.c_contiguous:
            return "must be C-contiguous: pass np.ascontiguousarray(...)"
        return None
    if kind == "int":
        if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
            return None
        return f"is used as an integer (a loop bound or an index) and must be an int, got {type(value).__name__}"
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, np.ndarray):
        return f"must be a real number (float), got an ndarray of shape {value.shape}"
    if isinstance(value, numbers.Complex):
        return f"must be a real number (float), got the complex number {value!r}"
    return f"must be a real number (float), got {type(value).__name__} {value!r}"[:200]


def _explain_arguments(module, *args, **keywords):
    """Raise a TypeError naming the argument a kernel's dispatcher could not accept."""
    for name, kind, value in zip(module.ARGUMENTS, module.KINDS, args):
        problem = _argument_problem(kind, value)
        if problem:
            raise TypeError(f"{module.NAME}(): argument {name!r} {problem}")
    raise TypeError(f"{module.NAME}() takes {len(module.ARGUMENTS)} argument(s) ({', '.join(module.ARGUMENTS)}); "
                    f"got {', '.join(type(a).__name__ for a in args)}")


class Transform:
    """A differentiated function: call it for the gradient (or value and gradient), read its formulas."""

    def __init__(self, function, wrt, mode, parallel=False, optimize=True, method="auto"):
        if getattr(function, cache.INLINE_ATTRIBUTE, None) is not None:
            raise TypeError(f"{function!r} is already a symgrad transform: apply grad/value_and_grad to the "
                            "plain Python function (its .fun)")
        if not inspect.isfunction(function):
            raise TypeError(f"symgrad differentiates Python functions defined with def, not {type(function).__name__}")
        functools.update_wrapper(self, function)
        self.fun = function
        setattr(self, cache.INLINE_ATTRIBUTE, function)
        self._positions, self._as_tuple, self.wrt = _normalise_wrt(function, wrt)
        self._mode = mode
        self.parallel = bool(parallel)
        self.passes = passes.enabled(optimize)
        if method not in METHODS:
            raise ValueError(f"method={method!r}: choose one of {', '.join(map(repr, METHODS))}")
        self.method = method
        self._module = None
        self._derivation = None
        self.kernels = Kernels(self)
        self.__class__ = type(Transform.__name__, (Transform,), {"__module__": __name__, "__doc__": Transform.__doc__})

    # --- the compiled entry points ----------------------------------------------------------------------
    # Each entry compiles its kernel on first use and then hands every later call straight to the Numba
    # dispatcher (a Python wrapper would add about half the cost of a call: DESIGN.md).  Each transform has
    # a class of its own so that `__call__` can become the dispatcher.
    def __call__(self, *args):
        """The gradient (or value and gradient) from the compiled kernel."""
        dispatcher = getattr(self.kernels, self._mode)
        type(self).__call__ = staticmethod(dispatcher)
        return dispatcher(*args)

    def value(self, *args):
        """The function's value, from the compiled forward kernel."""
        self.value = self.kernels.value
        return self.value(*args)

    def value_and_grad(self, *args):
        """(value, gradient) in one compiled pass."""
        self.value_and_grad = self.kernels.value_and_grad
        return self.value_and_grad(*args)

    # --- derivation, cached -------------------------------------------------------------------------------
    def _load(self):
        if self._module is None:
            options = (self.parallel, tuple(sorted(self.passes)), self.method)
            key = cache.derivation_key(self.fun, self._positions, self._as_tuple, options)
            module = cache.load(key)
            if module is None:
                module = cache.store(key, self._derived().module_text)
            self._module = module
        return self._module

    def _derived(self):
        if self._derivation is None:
            with _progress(f"deriving {self.fun.__name__}()"):
                self._derivation = _derive(self.fun, self.wrt, self._as_tuple, self.parallel, self.passes,
                                           self.method)
        return self._derivation

    # --- formulas and source ----------------------------------------------------------------------------
    def latex(self):
        """The function and every partial derivative, as a LaTeX ``aligned`` block."""
        return self._load().LATEX

    def _repr_latex_(self):
        return f"$${self.latex()}$$"

    @property
    def expressions(self):
        """The SymPy expressions behind `.latex()`: name -> sympy.Expr."""
        return dict(self._derived().rendering.expressions)

    def source(self):
        """The generated Python source of the kernels (the module Numba compiles)."""
        return pathlib.Path(self._load().__file__).read_text()

    def pretty(self, use_unicode=True):
        """The function and every partial drawn by SymPy's pretty printer (2-D fractions, sums, cases), for a
        terminal; ``use_unicode=False`` draws them in ASCII.  It derives (imports SymPy), as `.expressions` does."""
        from .display import pretty

        derivation = self._derived()
        return pretty(derivation.derivative, derivation.rendering, use_unicode)

    def to_markdown(self, source=True):
        """The function's Python source (a ``python`` code block, unless ``source=False``) and its formulas (a
        ``$$`` math block), for documentation pages and notebooks' Markdown cells."""
        parts = ["```python\n" + textwrap.dedent(inspect.getsource(self.fun)).rstrip() + "\n```"] if source else []
        parts.append("$$\n" + self.latex() + "\n$$")
        return "\n\n".join(parts) + "\n"

    def __str__(self):
        return self._load().TEXT

    def __repr__(self):
        arguments = ", ".join(inspect.signature(self.fun).parameters)
        return f"<symgrad.{self._mode} of {self.fun.__name__}({arguments}) wrt {', '.join(self.wrt)}>"


def _transform(mode, function, wrt, parallel, optimize, method):
    if function is None:
        return lambda f: Transform(f, wrt, mode, parallel, optimize, method)
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
