"""Second order: Hessian-vector products, Hessians (dense and sparse), nested gradients; and Jacobians.

Reverse over forward.  Forward mode (`forward.directional`) turns f into a Program computing its derivative along
a direction v, which arrives as an extra argument (a float, or an array whose v[i] is the tangent of x[i]);
reverse mode differentiates that Program with respect to x, which gives H v.  Everything after (bounds, codegen,
the cache, Numba) is the first-order machinery's, so an HVP costs a small multiple of a gradient and works
through whatever the gradient works through.  A nested `grad(grad(f))` is the same with a constant direction
1 on the inner argument (forward mode again for each further level).  A dense Hessian is n products with unit
vectors in one compiled loop; a sparse one is the products along the seeds of a column colouring of its
pattern, which `sparsity.hessian_pattern` derives from the program.  A Jacobian of a function returning a tuple
is reverse mode on u^T f, with the weights u as extra arguments: one sweep per output.
"""

import inspect
import numbers

import numpy as np

from . import module_values
from .api import Kernels, Transform, _argument_problem, _positional, built, derive_with, lifted
from .errors import NonDifferentiableArgumentError


def _stages(function, wrt, directions, seeded, as_tuple, parallel, enabled, weighted=False):
    """Lift f, take its derivative along each of `directions` (float arguments, direction 1) and, when `seeded`,
    along a direction given by extra arguments; reverse mode then differentiates the result w.r.t. `wrt`.
    `weighted` (a Jacobian) instead sums f's outputs weighted by extra arguments: the gradient is then u^T J."""
    import sympy as sp

    from .forward import directional
    from .reverse import reverse

    program = lifted(function, tuple(wrt) + tuple(directions), several=weighted)
    refusal = module_values.not_passed("a second-order transform", program.name, program.passed_globals)
    if refusal:
        raise refusal
    if weighted:
        program = _weighted(program)
    for name in directions:
        if program.argument(name).kind != "float":
            raise NonDifferentiableArgumentError(
                f"grad of a gradient: {program.name}()'s inner gradient is with respect to {name!r}, which is an "
                f"array; nesting takes gradients with respect to float arguments")
        program = directional(program, {name: sp.Integer(1)}, direction=name)
    if seeded:
        program = _with_direction(program, wrt)
    return built(reverse(program, list(wrt), enabled=enabled), wrt, as_tuple, parallel, enabled)


def _with_direction(program, wrt):
    """The directional derivative of `program` along seed arguments appended to its arguments: `v` for one
    `wrt` argument, `v_<name>` for each of several; an array's seed has a length of its own (bounds checks it)."""
    import sympy as sp

    from .forward import directional
    from .ir import ARRAY_KINDS, Argument
    from .reverse import defined_names, unique_symbol

    used = {a.name for a in program.arguments} | {s.name for a in program.arguments for s in a.shape}
    used |= defined_names(program.body)
    seeds, arguments = {}, []
    for name in wrt:
        argument = program.argument(name)
        symbol = unique_symbol(used, "v" if len(wrt) == 1 else f"v_{name}")
        if argument.base is None:
            seeds[name] = symbol
            arguments.append(Argument(symbol.name, symbol))
        else:
            shape = tuple(sp.Symbol(unique_symbol(used, f"{symbol.name}_shape{k}").name, integer=True,
                                    nonnegative=True) for k in range(ARRAY_KINDS[argument.kind]))
            base = sp.IndexedBase(symbol, shape=shape)
            seeds[name] = base
            arguments.append(Argument(symbol.name, symbol, argument.kind, base, shape))
    directed = directional(program, seeds)
    directed.arguments = list(program.arguments) + arguments
    return directed


def _weighted(program):
    """`program` returning sum_k u_k * output_k, the weights u_k appended to its arguments as floats."""
    import sympy as sp

    from .ir import Argument, Assign, Program
    from .reverse import defined_names, unique_symbol

    used = {a.name for a in program.arguments} | {s.name for a in program.arguments for s in a.shape}
    used |= defined_names(program.body)
    weights = [unique_symbol(used, f"u{k}") for k in range(len(program.outputs))]
    total = unique_symbol(used, f"{program.name}_weighted")
    body = program.body + [Assign(total, sp.Add(*(u * out for u, out in zip(weights, program.outputs))))]
    return Program(program.name, program.arguments + [Argument(u.name, u) for u in weights], body, [total],
                   program.filename, program.line, passed_globals=program.passed_globals,
                   folded_globals=program.folded_globals)


class _SecondKernels(Kernels):
    """The HVP module's dispatchers (`value`: the directional derivative, `grad` and its alias `hvp`: H v,
    `value_and_grad`) and, for a Hessian w.r.t. a 1-D array, `hessian`: all n columns in one compiled loop."""

    def __getattr__(self, name):
        if name == "hvp":
            return getattr(self, "grad")
        if name == "hessian" and isinstance(self._owner, Hessian):
            with self._owner._lock:
                if "hessian" not in self.__dict__:
                    self.hessian = self._owner._column_loop()
            return self.__dict__["hessian"]
        return super().__getattr__(name)


class _SecondOrder(Transform):
    """Common to the second-order transforms: derivation through `_stages`, kernels told apart in the cache."""

    _seeded = True
    _weighted = False

    def __init__(self, function, wrt, parallel=False, optimize=True, directions=()):
        super().__init__(function, wrt, "grad", parallel, optimize, "reverse")
        self._directions = tuple(directions)
        self.kernels = _SecondKernels(self)

    def _variant(self):  # (hvp and hessian share their kernels)
        return ("second order", self._directions, self._seeded, self._weighted)

    def _derive(self):
        return derive_with(_stages, self.fun, self.wrt, self._directions, self._seeded, self._as_tuple,
                           self.parallel, self.passes, self._weighted)

    def _no_value(self, *args, **keywords):
        """Refused: the `value` kernel of an HVP or a Jacobian is the directional derivative or u^T f, not f."""
        raise TypeError(f"{self!r} has no value of f: use sg.value_and_grad(f); its .kernels.value takes the "
                        "extra arguments v or u")

    def _arguments(self, args, keywords):
        """f's arguments in order, each checked against its kind (a TypeError naming the one that is wrong)."""
        values = _positional(self.fun, args, keywords)
        module = self._load()
        if module.FOLDED and module_values.current(self.fun, module) is None:  # (a module-level number changed)
            self._forget()
            module = self._load()
        for name, kind, value in zip(module.ARGUMENTS, module.KINDS, values):
            problem = _argument_problem(kind, value)
            if problem:
                raise TypeError(f"{self.fun.__name__}(): argument {name!r} {problem}")
        return values

    def _kind(self, name):
        return self._load().KINDS[self._load().ARGUMENTS.index(name)]

    def __repr__(self):
        kind = type(self).__mro__[1].__name__.lower()  # (the class Transform.__init__ derived one from)
        return f"<symgrad.{kind} of {self.fun.__name__} wrt {', '.join(self.wrt)}>"


class HVP(_SecondOrder):
    """H v, the Hessian of f w.r.t. `wrt` times v, without forming H: call it as ``hvp(*args, v)``."""

    def __call__(self, *args, **keywords):
        """H v, shaped like the `wrt` argument (a tuple of them, and a tuple v, for a tuple `wrt`)."""
        if "v" in keywords and "v" not in inspect.signature(self.fun).parameters:
            v = keywords.pop("v")
        elif args:
            args, v = args[:-1], args[-1]
        else:
            raise TypeError(f"hvp of {self.fun.__name__}() is called as hvp(*args, v): v is missing")
        values = self._arguments(args, keywords)
        return self.kernels.grad(*values, *self._seeds(values, v))

    value = value_and_grad = _SecondOrder._no_value

    def _seeds(self, values, v):
        """v checked against the `wrt` arguments' shapes: a ValueError naming v when it does not fit."""
        seeds = v if self._as_tuple else (v,)
        if self._as_tuple and (not isinstance(v, (tuple, list)) or len(v) != len(self.wrt)):
            raise ValueError(f"hvp of {self.fun.__name__}(): v must be a tuple of {len(self.wrt)} directions, one "
                             f"per argument of wrt={self.wrt}")
        checked = []
        for name, seed in zip(self.wrt, seeds):
            x = values[self._positions[self.wrt.index(name)]]
            if isinstance(x, np.ndarray):
                seed = np.ascontiguousarray(seed, dtype=np.float64) if isinstance(seed, (list, np.ndarray)) else seed
                if not isinstance(seed, np.ndarray) or seed.shape != x.shape:
                    shape = seed.shape if isinstance(seed, np.ndarray) else type(seed).__name__
                    raise ValueError(f"hvp of {self.fun.__name__}(): v must have the shape {x.shape} of argument "
                                     f"{name!r}, got {shape}")
            elif not isinstance(seed, numbers.Real) or isinstance(seed, bool):
                raise ValueError(f"hvp of {self.fun.__name__}(): v must be a float, as argument {name!r} is, got "
                                 f"{type(seed).__name__}")
            checked.append(seed)
        return checked


class Hessian(HVP):
    """The Hessian of f w.r.t. `wrt`: a float for a float argument, an (n, n) ndarray for a 1-D array (a CSR
    matrix of its structural nonzeros with ``sparse=True``), nested tuples for a tuple `wrt`, as jax.hessian."""

    def __init__(self, function, wrt, sparse=False, parallel=False, optimize=True):
        super().__init__(function, wrt, parallel, optimize)
        self.sparse = bool(sparse)
        self._patterns = {}

    def __call__(self, *args, **keywords):
        values = self._arguments(args, keywords)
        hvp = self.kernels.grad
        if not self._as_tuple:
            kind = self._kind(self.wrt[0])
            if kind == "float":
                return hvp(*values, 1.0)
            self._one_dimensional(kind)
            return self._compressed(values) if self.sparse else self.kernels.hessian(*values)
        if self.sparse:
            raise ValueError("sparse=True takes one 1-D array argument as wrt, not a tuple")
        return self._blocks(values, hvp)

    def _one_dimensional(self, kind, name=None):
        if kind != "array1":
            raise NonDifferentiableArgumentError(
                f"hessian of {self.fun.__name__}() w.r.t. {name or self.wrt[0]!r}: a 2-D array argument is not "
                "supported; pass it flattened")

    def _blocks(self, values, hvp):
        """Nested tuples: block (a, b) is d2f / da db, from the products along the unit directions of b."""
        for name in self.wrt:
            if self._kind(name) == "array2":
                self._one_dimensional("array2", name)
        shapes = [np.shape(values[p]) for p in self._positions]
        blocks = [[None] * len(shapes) for _ in shapes]
        for b, shape in enumerate(shapes):
            columns = []
            for j in range(int(np.prod(shape))):
                seeds = [np.zeros(s) if s else 0.0 for s in shapes]
                if shape:
                    seeds[b].flat[j] = 1.0
                else:
                    seeds[b] = 1.0
                columns.append(hvp(*values, *seeds))
            for a, rows in enumerate(shapes):
                stacked = np.array([np.asarray(column[a], dtype=float) for column in columns])  # (columns, rows)
                block = stacked.reshape(shape + rows).T  # rows + shape, as jax.hessian (each at most 1-D)
                blocks[a][b] = float(block) if block.ndim == 0 else block
        return tuple(tuple(row) for row in blocks)

    def _column_loop(self):
        """A compiled function of f's arguments looping the HVP kernel over the unit vectors: the dense Hessian,
        symmetrised (its two triangles are the same derivatives, summed in another order)."""
        import numba

        module = self._load()
        self._one_dimensional(module.KINDS[self._positions[0]])
        names = [f"a{k}" for k in range(len(module.ARGUMENTS) - len(self.wrt))]
        x = names[self._positions[0]]
        text = (f"def hessian({', '.join(names)}):\n"
                f"    n = {x}.shape[0]\n"
                f"    h = np.empty((n, n))\n"
                f"    v = np.zeros(n)\n"
                f"    for j in range(n):\n"
                f"        v[j] = 1.0\n"
                f"        h[:, j] = hvp({', '.join(names)}, v)\n"
                f"        v[j] = 0.0\n"
                f"    return 0.5 * (h + h.T)\n")
        scope = {"np": np, "hvp": self.kernels.grad}
        exec(compile(text, f"<symgrad hessian of {self.fun.__name__}>", "exec"), scope)  # noqa: S102
        return numba.njit(error_model="numpy")(scope["hessian"])

    # --- sparse ------------------------------------------------------------------------------------------
    def sparsity(self, *args, **keywords):
        """The structural nonzeros of the Hessian at arguments of these shapes (and integer values), as a
        scipy.sparse CSR matrix of ones: derived from the program, so the same at every value of the floats."""
        import scipy.sparse

        rows, columns, n = self._pattern(self._arguments(args, keywords))
        return scipy.sparse.csr_matrix((np.ones(len(rows)), (rows, columns)), shape=(n, n))

    def _pattern(self, values):
        """(rows, columns, n) of the pattern, kept per shape and integer values."""
        module = self._load()
        self._one_dimensional(module.KINDS[self._positions[0]])
        key = self._key_of(values)
        if key not in self._patterns:
            from .sparsity import hessian_pattern

            program = lifted(self.fun, self.wrt)
            pairs = hessian_pattern(program, self.wrt[0], values)
            n = len(values[self._positions[0]])
            entries = sorted(pairs | {(j, i) for i, j in pairs})
            rows = np.array([i for i, _ in entries], dtype=np.int64)
            columns = np.array([j for _, j in entries], dtype=np.int64)
            self._patterns[key] = (rows, columns, n, colouring(rows, columns, n))
        return self._patterns[key][:3]

    def _compressed(self, values):
        """The structural nonzeros from one HVP per colour: seed = the sum of the colour's unit vectors; in each
        row at most one column of a colour is nonzero, so the product's row i is that entry."""
        import scipy.sparse

        self._pattern(values)
        rows, columns, n, colours = self._patterns[self._key_of(values)]
        data = np.empty(len(rows))
        hvp = self.kernels.grad
        for colour in range(colours.max() + 1 if n else 0):
            product = hvp(*values, (colours == colour).astype(np.float64))
            chosen = colours[columns] == colour
            data[chosen] = product[rows[chosen]]
        return scipy.sparse.csr_matrix((data, (rows, columns)), shape=(n, n))

    def _key_of(self, values):
        """What the pattern depends on: the arrays' shapes and the integer arguments' values."""
        module = self._load()
        return tuple(np.shape(v) if kind.startswith("array") else (v if kind == "int" else None)
                     for kind, v in zip(module.KINDS, values))


class ValueGradAndHessian(Hessian):
    """(value, gradient, Hessian) for Newton's method: the first two from the gradient's value_and_grad kernel,
    the Hessian as `hessian` computes it (dense, sparse or nested tuples)."""

    def __init__(self, function, wrt, sparse=False, parallel=False, optimize=True):
        super().__init__(function, wrt, sparse, parallel, optimize)
        self._first = Transform(function, wrt, "value_and_grad", parallel, optimize)

    def __call__(self, *args, **keywords):
        value, gradient = self._first(*args, **keywords)
        return value, gradient, super().__call__(*args, **keywords)


class Jacobian(_SecondOrder):
    """The Jacobian of a function returning a tuple of m numbers: an ndarray of shape (m,) + the `wrt` argument's
    shape (a tuple of them for a tuple `wrt`), row k the gradient of output k, from reverse sweeps of u^T f."""

    _seeded = False
    _weighted = True
    value = value_and_grad = _SecondOrder._no_value

    def __call__(self, *args, **keywords):
        values = self._arguments(args, keywords)
        m = len(self._load().ARGUMENTS) - len(values)
        rows = [self.kernels.grad(*values, *np.eye(m)[k]) for k in range(m)]
        if not self._as_tuple:
            return np.array(rows, dtype=float)
        return tuple(np.array([row[a] for row in rows], dtype=float) for a in range(len(self.wrt)))


def colouring(rows, columns, n):
    """A greedy distance-2 colouring of the pattern's columns: two columns sharing a row get different colours,
    so one product along the sum of a colour's unit vectors recovers every entry of those columns."""
    by_column = [[] for _ in range(n)]
    by_row = [[] for _ in range(n)]
    for i, j in zip(rows, columns):
        by_column[j].append(i)
        by_row[i].append(j)
    colours = np.full(n, -1, dtype=np.int64)
    for j in range(n):
        taken = {colours[k] for i in by_column[j] for k in by_row[i]}
        colours[j] = next(c for c in range(n + 1) if c not in taken)
    return colours


class NestedGrad(_SecondOrder):
    """`grad(grad(f))` and deeper, for float arguments: the derivative of the inner gradients w.r.t. `wrt`."""

    _seeded = False

    def __init__(self, inner, wrt, mode, parallel=False, optimize=True):
        if inner._as_tuple or inner._mode != "grad" or isinstance(inner, _SecondOrder) and not isinstance(
                inner, NestedGrad):
            raise TypeError("grad of a transform: the inner transform must be a grad with respect to one float "
                            "argument (its gradient is then a scalar function of the same arguments)")
        directions = getattr(inner, "_directions", ()) + tuple(inner.wrt)
        super().__init__(inner.fun, wrt, parallel, optimize, directions)
        self._mode = mode  # (the call goes straight to the dispatcher, as a gradient's: `Transform.__call__`)


def nested(inner, wrt, mode, parallel, optimize):
    """The transform `grad`/`value_and_grad` makes of a transform `inner`."""
    return NestedGrad(inner, wrt, mode, parallel, optimize)


def _made(cls, function, *options):
    """`cls(function, *options)`, or a decorator making it when `function` is None (``@sg.hessian(wrt=1)``)."""
    return (lambda f: cls(f, *options)) if function is None else cls(function, *options)


def hvp(function=None, wrt=0, parallel=False, optimize=True):
    """The Hessian of a scalar function w.r.t. `wrt` times a vector: ``hvp(f)(*args, v)`` is H v, shaped like
    the `wrt` argument, computed as the gradient of the directional derivative (no H is formed)."""
    return _made(HVP, function, wrt, parallel, optimize)


def hessian(function=None, wrt=0, sparse=False, parallel=False, optimize=True):
    """The Hessian of a scalar function w.r.t. `wrt`: a float for a float argument, an (n, n) ndarray for a 1-D
    array (``sparse=True``: a scipy.sparse CSR matrix of the structural nonzeros, `.sparsity()` its pattern),
    nested tuples for a tuple `wrt`."""
    return _made(Hessian, function, wrt, sparse, parallel, optimize)


def value_grad_and_hessian(function=None, wrt=0, sparse=False, parallel=False, optimize=True):
    """Like `hessian`, but calling it returns ``(value, gradient, hessian)``."""
    return _made(ValueGradAndHessian, function, wrt, sparse, parallel, optimize)


def jacobian(function=None, wrt=0, parallel=False, optimize=True):
    """The Jacobian of a function returning a tuple of numbers: shape (outputs,) + the `wrt` argument's shape."""
    return _made(Jacobian, function, wrt, parallel, optimize)


__all__ = ["jacobian", "Jacobian", "hvp", "hessian", "value_grad_and_hessian", "HVP", "Hessian", "ValueGradAndHessian", "NestedGrad"]
