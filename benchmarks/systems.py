"""The systems compared, each behind the same small interface, so the harness times, checks and starts them alike.

`System.version()` imports the system (an ImportError means it is missing, which is reported, not raised) and
`System.build(problem, args)` returns a `Runner`: the system's own value-and-gradient call on its own argument
types (device arrays, tensors, CasADi matrices) converted once, as a user's loop would hold them.  Every peer
imports lazily, so this module is light enough for a fresh latency process.
"""

import functools
import importlib.metadata
import os
import re
import signal
import sys
import threading
from contextlib import contextmanager

import numpy as np
import twins


class NotExpressible(Exception):
    """The system has no way to write the problem (it lacks an operation the problem needs)."""


class NotRun(Exception):
    """The pair is left out on purpose; the message says why."""


class TimedOut(Exception):
    """Building (tracing, deriving, compiling) took longer than the cap."""


@contextmanager
def time_limit(seconds):
    """Raise TimedOut in the main thread after `seconds` (SymPy's diff of unrolled Rosenbrock grows as n**2 and
    would hold a run for minutes).  Pure-Python work is interrupted at once; compiled code when it returns."""
    if not seconds or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        yield
        return

    def expire(*_):
        raise TimedOut(f"timed out after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Namespace:
    """A library's functions for the twins, plus its idioms; a name it lacks raises NotExpressible."""

    def __init__(self, system, module=None, **extra):
        self._system, self._module, self._extra = system, module, extra

    def __getattr__(self, name):
        if name in self._extra:
            return self._extra[name]
        if self._module is not None and hasattr(self._module, name):
            return getattr(self._module, name)
        raise NotExpressible(f"{self._system} has no {name}")


def _add(matrix, row):
    return matrix + row


class Runner:
    """How to call one system on one problem.

    call(*native) -> the system's (value, gradient); native: the timed arguments in the system's own types;
    convert(args) -> native arguments for another point; to_numpy(result) -> (value, gradient) shaped like the
    hand-written one; make_value() -> a value-only callable on the same native arguments (scalar problems)."""

    def __init__(self, call, native, convert=tuple, to_numpy=lambda r: r, make_value=None):
        self.call, self.native, self.convert, self.to_numpy = call, tuple(native), convert, to_numpy
        self.make_value = make_value


def _gradient_shape(problem, gradients):
    """A list of per-argument gradients as the hand-written code returns them: a tuple for a tuple `wrt`."""
    return tuple(gradients) if isinstance(problem.wrt, tuple) else gradients[0]


def _to_numpy(problem, args):
    """The converter for systems returning (value, one gradient per wrt argument) in their own array types."""
    def convert(result):
        value, gradients = result
        if not isinstance(problem.wrt, tuple):
            gradients = (gradients,)
        out = [np.asarray(g, dtype=float).reshape(np.shape(args[i])) for g, i in zip(gradients, problem.wrt_tuple)]
        return float(value), _gradient_shape(problem, [g if g.ndim else float(g) for g in out])
    return convert


class System:
    name = label = package = ""
    cache = "none"  # what a second process finds already done

    def version(self):
        """Import the system; its version.  Raises ImportError when it is not installed."""
        importlib.import_module(self.package)
        return importlib.metadata.version(self.package)

    def build(self, problem, args):
        raise NotImplementedError

    def only_loop_rows(self, problem):
        """Raise NotRun on a vectorised row: this system's twin of the loop row is the same vectorised text, so
        the row would repeat that row's figures (and SymPy's time) for nothing."""
        if problem.vectorised:
            raise NotRun(f"{self.label} already runs this vectorised text on the loop-written row")


class Symgrad(System):
    name, label, package = "symgrad", "symgrad", "symgrad"
    cache = "derivation cache + Numba cache"

    def version(self):
        import symgrad

        return symgrad.__version__

    parallel = False

    def build(self, problem, args):
        import symgrad as sg

        vg = sg.value_and_grad(problem.function(), wrt=problem.wrt, parallel=self.parallel)
        return Runner(vg, args, make_value=lambda: vg.kernels.value)


class SymgradThreads(Symgrad):
    """symgrad with ``parallel=True``: long loops that only add into sums run on Numba's threads."""

    name, label = "symgrad-threads", "symgrad parallel=True"
    parallel = True


class HandNumba(System):
    name, label, package = "numba", "hand Numba", "numba"
    cache = "Numba cache (cache=True)"

    def build(self, problem, args):
        from hand import njit

        return Runner(njit(problem.hand()), args, make_value=lambda: njit(problem.function()))


class HandNumPy(System):
    name, label, package = "numpy", "hand NumPy", "numpy"

    def build(self, problem, args):
        return Runner(problem.hand(), args, make_value=problem.function)


class Jax(System):
    name, label, package = "jax", "JAX", "jax"
    cache = "persistent compilation cache"

    def version(self):
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
        import jax

        jax.config.update("jax_enable_x64", True)
        if os.environ.get("BENCH_JAX_CACHE_DIR"):  # set by the harness for the latency processes
            jax.config.update("jax_compilation_cache_dir", os.environ["BENCH_JAX_CACHE_DIR"])
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        return jax.__version__

    def build(self, problem, args):
        import jax
        import jax.numpy as jnp

        xp = Namespace(self.label, jnp, add_bias=_add, scan=jax.lax.scan)
        twin = functools.partial(problem.twin, xp)
        jitted = jax.jit(jax.value_and_grad(twin, argnums=problem.wrt))
        value = jax.jit(twin)

        def convert(host):
            return tuple(jax.device_put(a) if isinstance(a, np.ndarray) else a for a in host)

        def call(*a):
            return jax.block_until_ready(jitted(*a))

        def make_value():
            return lambda *a: jax.block_until_ready(value(*a))

        return Runner(call, convert(args), convert, _to_numpy(problem, args), make_value)


class Autograd(System):
    name, label, package = "autograd", "autograd", "autograd"

    def build(self, problem, args):
        import autograd
        import autograd.numpy as anp

        xp = Namespace(self.label, anp, add_bias=_add, scan=twins.python_scan)
        twin = functools.partial(problem.twin, xp)
        return Runner(autograd.value_and_grad(twin, argnum=problem.wrt), args, to_numpy=_to_numpy(problem, args),
                      make_value=lambda: twin)


class Torch(System):
    name, label, package = "torch", "PyTorch", "torch"

    def build(self, problem, args):
        import torch

        xp = Namespace(self.label, torch, add_bias=_add, scan=twins.python_scan,
                       maximum=lambda a, floor: torch.clamp(a, min=floor))
        twin = functools.partial(problem.twin, xp)
        wrt = problem.wrt_tuple

        def convert(host):
            return tuple(torch.tensor(np.asarray(a, dtype=float), dtype=torch.float64, requires_grad=i in wrt)
                         for i, a in enumerate(host))

        def call(*a):  # a training step's differentiation: clear the gradients, forward, backward()
            params = [a[i] for i in wrt]
            for p in params:
                p.grad = None
            out = twin(*a)
            out.backward()
            return out, [p.grad for p in params]

        def to_numpy(result):
            value, gradients = result
            return _to_numpy(problem, args)((value.item(), _gradient_shape(problem, [g.numpy() for g in gradients])))

        def make_value():
            def value(*a):
                with torch.no_grad():
                    return twin(*a)
            return value

        return Runner(call, convert(args), convert, to_numpy, make_value)


def _symbols(make, args, problem):
    """Symbols shaped like `args` (scalars, vectors, matrices), named after the problem's arguments."""
    import inspect

    names = list(inspect.signature(problem.twin).parameters)[1:]
    return [make(name, *np.shape(a)) for name, a in zip(names, args)]


class SymPy(System):
    name, label, package = "sympy", "SymPy", "sympy"
    LARGEST = 1000  # unrolled Rosenbrock above this is not attempted: diff alone grows as n**2

    def build(self, problem, args):
        self.only_loop_rows(problem)
        import sympy as sp

        if not problem.scalar and (problem.family != "rosen" or problem.size > self.LARGEST):
            raise NotRun(f"SymPy is run on the scalar problems and unrolled rosen up to n = {self.LARGEST}")

        def symbol(name, *shape):
            return np.array(sp.symbols(f"{name}0:{shape[0]}"), dtype=object) if shape else sp.Symbol(name)

        symbols = _symbols(symbol, args, problem)
        xp = Namespace(self.label, sp, sum=lambda a: sp.Add(*a))
        f = problem.twin(xp, *symbols)
        flat = [list(s) if isinstance(s, np.ndarray) else s for s in symbols]
        gradients = [[sp.diff(f, e) for e in flat[i]] if isinstance(flat[i], list) else sp.diff(f, flat[i])
                     for i in problem.wrt_tuple]
        eliminated = []

        def cse(expressions):  # lambdify's own cse=True, keeping what it leaves for the operation count
            eliminated.append(sp.cse(expressions, list=False))
            return eliminated[-1]

        call = sp.lambdify(flat, [f, gradients], modules="math", cse=cse)
        runner = Runner(call, args, to_numpy=lambda r: _to_numpy(problem, args)((r[0], _gradient_shape(problem, r[1]))),
                        make_value=lambda: sp.lambdify(flat, f, modules="math", cse=True))
        definitions, results = eliminated[0]
        runner.operations = sp.count_ops([value for _, value in definitions]) + sp.count_ops(results)
        return runner


class CasADi(System):
    name, label, package = "casadi", "CasADi", "casadi"

    def build(self, problem, args):
        self.only_loop_rows(problem)
        import casadi as ca

        def total(a):
            return ca.sum1(ca.sum2(a))

        xp = Namespace(self.label, ca, sum=total, mean=lambda a: total(a) / a.numel(), maximum=ca.fmax,
                       add_bias=lambda m, row: m + ca.repmat(row.T, m.shape[0], 1), scan=twins.python_scan)
        symbols = _symbols(ca.SX.sym, args, problem)
        f = problem.twin(xp, *symbols)
        gradients = [ca.gradient(f, symbols[i]) for i in problem.wrt_tuple]
        name = re.sub(r"\W+", "_", problem.name)  # CasADi's names are identifiers ("mlp-if" is refused)
        function = ca.Function(name, symbols, [f, *gradients])

        def convert(host):
            return tuple(ca.DM(a) for a in host)

        def to_numpy(result):
            return _to_numpy(problem, args)((float(result[0]), _gradient_shape(problem, list(result[1:]))))

        return Runner(function, convert(args), convert, to_numpy,
                      lambda: ca.Function(name + "_value", symbols, [f]))


class Micrograd(System):
    name, label, package = "micrograd", "micrograd", "micrograd"
    LARGEST = 10_000  # array elements: rosen n = 100000 would build a graph of ~10**6 Python objects a call

    @staticmethod
    def _relu(a, floor):
        """``maximum(a, 0)``, the only maximum micrograd has."""
        if floor != 0:
            raise NotExpressible(f"micrograd has no maximum(a, {floor})")
        return np.vectorize(lambda v: v.relu(), otypes=[object])(a)

    def build(self, problem, args):
        self.only_loop_rows(problem)
        from micrograd.engine import Value

        # Its backward() sorts the graph recursively: as deep as the longest chain of operations.
        sys.setrecursionlimit(max(sys.getrecursionlimit(), 50_000))
        values = np.vectorize(Value, otypes=[object])
        grads = np.vectorize(lambda v: float(v.grad), otypes=[float])
        xp = Namespace(self.label, None, sum=np.sum, mean=lambda a: np.sum(a) / np.size(a), add_bias=_add,
                       maximum=self._relu, scan=twins.python_scan)
        twin = functools.partial(problem.twin, xp)
        wrt = problem.wrt_tuple

        def lift(a):
            return [(values(x) if np.ndim(x) else Value(x)) if i in wrt else x for i, x in enumerate(a)]

        if not problem.scalar:  # what it cannot express is said before what it is not run on
            twin(*lift(problem.resized(4).args(np.random.default_rng(0))))
            if max(np.size(a) for a in args) > self.LARGEST:
                raise NotRun(f"micrograd builds a Python object per operation: not run above {self.LARGEST:,} "
                             "elements")

        def call(*a):  # a fresh graph per call, as micrograd's training loop makes one
            lifted = lift(a)
            out = twin(*lifted)
            out.backward()
            return out.data, _gradient_shape(problem, [grads(lifted[i]) if np.ndim(a[i]) else lifted[i].grad
                                                        for i in wrt])

        return Runner(call, args, to_numpy=_to_numpy(problem, args),
                      make_value=lambda: lambda *a: twin(*lift(a)).data)


SYSTEMS = {s.name: s for s in (Symgrad(), SymgradThreads(), HandNumba(), HandNumPy(), Jax(), Autograd(), Torch(), SymPy(), CasADi(),
                               Micrograd())}
REFERENCE = "numba"
