"""Second order: Hessian-vector products, Hessians (dense and sparse), nested gradients.

Reverse over forward.  Forward mode (`forward.directional`) turns f into a Program computing its derivative along
a direction v, which arrives as an extra argument (a float, or an array whose v[i] is the tangent of x[i]);
reverse mode differentiates that Program with respect to x, which gives H v.  Everything after (bounds, codegen,
the cache, Numba) is the first-order machinery's, so an HVP costs a small multiple of a gradient and works
through whatever the gradient works through.  A nested `grad(grad(f))` is the same with a constant direction
1 on the inner argument (forward mode again for each further level).  A dense Hessian is n products with unit
vectors in one compiled loop; a sparse one is the products along the seeds of a column colouring of its
pattern, which `sparsity.hessian_pattern` derives from the program.  (Jacobians are in `jacobian`.)
"""

import inspect
import numbers

import numpy as np

from . import module_values
from .api import Kernels, Transform, _argument_problem, _positional, built, derive_with, lifted, pattern_key
from .errors import NonDifferentiableArgumentError


def _stages(function, wrt, directions, seeded, as_tuple, parallel, enabled, observed):
    """Lift f, take its derivative along each of `directions` (float arguments, direction 1) and, when `seeded`,
    along a direction given by extra arguments; reverse mode then differentiates the result w.r.t. `wrt`.
    `observed` maps an argument to the kind of the array its first call passed (as for a gradient)."""
    from .reverse import reverse

    program = lifted(function, tuple(wrt) + tuple(directions), several=True, observed=observed)
    refusal = module_values.not_passed("a second-order transform", program.name, program.passed_globals)
    if refusal:
        raise refusal
    _check_scalar(program, "hvp, hessian and value_grad_and_hessian need" if seeded else "grad of grad needs")
    program = _directed(program, directions)
    if seeded:
        program = _with_direction(program, wrt)
    return built(reverse(program, list(wrt), enabled=enabled), wrt, as_tuple, parallel, enabled)


def _check_scalar(program, who_needs):
    """A TypeError with advice when `program` returns a tuple or an array where one number is differentiated
    twice."""
    if len(program.outputs) != 1 or program.output_shape is not None:
        returned = (f"a tuple of {len(program.outputs)} values" if len(program.outputs) != 1 else "an array")
        raise TypeError(f"{program.name}() returns {returned}; {who_needs} a function returning one number "
                        "(sg.jacobian differentiates a tuple or an array)")


def _directed(program, directions):
    """`program`'s derivative along each of `directions` in turn (float arguments, direction 1): the inner
    gradients of a nested transform, as a program returning one number."""
    import sympy as sp

    from .forward import directional

    for name in directions:
        if program.argument(name).kind != "float":
            raise NonDifferentiableArgumentError(
                f"grad of a gradient: {program.name}()'s inner gradient is with respect to {name!r}, which is an "
                f"array; nesting takes gradients with respect to float arguments")
        program = directional(program, {name: sp.Integer(1)}, direction=name)
    return program


def _with_direction(program, wrt):
    """The directional derivative of `program` along seed arguments appended to its arguments (`seed_arguments`)."""
    from .forward import directional

    seeds, arguments = seed_arguments(program, wrt, "v")
    directed = directional(program, seeds)
    directed.arguments = list(program.arguments) + arguments
    return directed


def seed_arguments(program, wrt, prefix):
    """A direction as new arguments, one per `wrt` argument and shaped like it: `v` (the `prefix`) for one,
    `v_<name>` for each of several; an array's seed has a length of its own (bounds checks it).  Returns the seeds
    (argument name -> float symbol or array base, as `forward.directional` takes them) and the new Arguments."""
    import sympy as sp

    from .ir import ARRAY_KINDS, Argument
    from .reverse import defined_names, unique_symbol

    used = {a.name for a in program.arguments} | {s.name for a in program.arguments for s in a.shape}
    used |= defined_names(program.body)
    seeds, arguments = {}, []
    for name in wrt:
        argument = program.argument(name)
        symbol = unique_symbol(used, prefix if len(wrt) == 1 else f"{prefix}_{name}")
        if argument.base is None:
            seeds[name] = symbol
            arguments.append(Argument(symbol.name, symbol))
        else:
            shape = tuple(sp.Symbol(unique_symbol(used, f"{symbol.name}_shape{k}").name, integer=True,
                                    nonnegative=True) for k in range(ARRAY_KINDS[argument.kind]))
            base = sp.IndexedBase(symbol, shape=shape)
            seeds[name] = base
            arguments.append(Argument(symbol.name, symbol, argument.kind, base, shape))
    return seeds, arguments


COLOURED_KERNELS = ("hessian_values", "coloured_hessian", "sparse_data", "value_grad_and_hessian")


def ambiguous_keyword(product, function, seed):
    """Refuse `seed=` as a keyword where f has an argument of that name: it could be either (`hvp(x, d, v=w)` of
    f(x, v) reads as f(x, v=w) with direction d, and as f(x, d) with direction w), and neither is sure."""
    if seed in inspect.signature(function).parameters:
        raise TypeError(f"{product} of {function.__name__}(): the keyword {seed}= names both {function.__name__}'s "
                        f"argument {seed} and the {product}'s own: pass the {product}'s {seed} by position, last")


class _SecondKernels(Kernels):
    """The HVP module's dispatchers (`value`: the directional derivative, `grad` and its alias `hvp`: H v,
    `value_and_grad`) and, for a Hessian w.r.t. a 1-D array, `hessian` (all n columns in one compiled loop) and
    the `COLOURED_KERNELS`, which take a plan (`Hessian.plan`) and make one product per colour."""

    def __getattr__(self, name):
        if name == "hvp":
            return getattr(self, "grad")
        if name in COLOURED_KERNELS + ("hessian",) and isinstance(self._owner, Hessian):
            with self._owner._lock:
                if name not in self.__dict__:
                    setattr(self, name, self._owner._column_loop() if name == "hessian" else
                            self._owner._coloured(name))
            return self.__dict__[name]
        return super().__getattr__(name)


class _SecondOrder(Transform):
    """Common to the second-order transforms: derivation through `_stages`, kernels told apart in the cache."""

    _seeded = True

    def __init__(self, function, wrt, parallel=False, optimize=True):
        directions = ()
        if isinstance(function, Transform):  # hessian(grad(f)), grad(grad(f)): differentiate the inner gradient
            function, directions = _unwrapped(function, type(self).__name__.lower())
        super().__init__(function, wrt, "grad", parallel, optimize, "reverse")
        self._directions = directions
        self._arity = len(inspect.signature(function).parameters)
        self.kernels = _SecondKernels(self)

    def _variant(self):  # (hvp and hessian share their kernels)
        return ("second order", self._directions, self._seeded)

    def _derive(self):
        return derive_with(_stages, self.fun, self.wrt, self._directions, self._seeded, self._as_tuple,
                           self.parallel, self.passes, dict(self._observed))

    def _lifted(self):
        """f's program differentiated along the inner directions (the HVP's start), with the observed ranks."""
        return _directed(lifted(self.fun, tuple(self.wrt) + self._directions, observed=dict(self._observed)),
                         self._directions)

    def _no_value(self, *args, **keywords):
        """Refused: the `value` kernel of an HVP is the directional derivative, not f."""
        raise TypeError(f"{self!r} has no value of f: use sg.value_and_grad(f); its .kernels.value takes the "
                        "extra arguments v or u")

    def _arguments(self, args, keywords):
        """f's arguments in order, each checked against its kind (a TypeError naming the one that is wrong)."""
        self._observe(args, keywords)  # (before the first derivation: a rank the body leaves open)
        values = args if not keywords and len(args) == self._arity else _positional(self.fun, args, keywords)
        module = self._load()
        if module.FOLDED and module_values.current(self.fun, module) is None:  # (a module-level number changed)
            self._forget()
            module = self._load()
        for name, kind, value in zip(module.ARGUMENTS, module.KINDS, values):
            problem = _argument_problem(kind, value)
            if problem:
                raise TypeError(f"{self.fun.__name__}(): argument {name!r} {problem}")
        # (a read-only array, copied: the loops compiled around the kernels here type it apart from the kernels'
        # writable arrays, which Numba then cannot call with it)
        return tuple(np.array(v) if isinstance(v, np.ndarray) and not v.flags.writeable else v for v in values)

    def _kind(self, name):
        module = self._load()
        return module.KINDS[module.ARGUMENTS.index(name)]

    def __repr__(self):
        kind = type(self).__mro__[1].__name__.lower()  # (the class Transform.__init__ derived one from)
        return f"<symgrad.{kind} of {self.fun.__name__} wrt {', '.join(self.wrt)}>"


class HVP(_SecondOrder):
    """H v, the Hessian of f w.r.t. `wrt` times v, without forming H: call it as ``hvp(*args, v)``."""

    def __call__(self, *args, **keywords):
        """H v, shaped like the `wrt` argument (a tuple of them, and a tuple v, for a tuple `wrt`)."""
        if "v" in keywords:  # (first: f's own v would make the call's binding, which `_observe` checks, ambiguous)
            ambiguous_keyword("hvp", self.fun, "v")
        if self._cache_key is None:  # the first call: the ranks of f's arrays (v is the last, or a keyword)
            self._observe(args if "v" in keywords else args[:-1], {k: a for k, a in keywords.items() if k != "v"})
        if not keywords and len(args) == self._arity + 1 and not self._as_tuple and self._fits(args[-1], args) \
                and not self._load().FOLDED:  # (a module-level number is checked on the way through _arguments)
            return self.kernels.grad(*args)  # (the dispatcher names an argument of the wrong type)
        if "v" in keywords:
            v = keywords.pop("v")
        elif args:
            args, v = args[:-1], args[-1]
        else:
            raise TypeError(f"hvp of {self.fun.__name__}() is called as hvp(*args, v): v is missing")
        values = self._arguments(args, keywords)
        return self.kernels.grad(*values, *self._seeds(values, v))

    value = value_and_grad = _SecondOrder._no_value

    def _fits(self, v, args):
        """v is a float64 C-contiguous array of the shape of the `wrt` array argument, or a float for a float:
        the call may go straight to the kernel (the common call, from an optimiser's inner loop)."""
        x = args[self._positions[0]]
        if type(x) is np.ndarray:
            return type(v) is np.ndarray and v.shape == x.shape and v.dtype == np.float64 and v.flags.c_contiguous
        return type(x) is float and type(v) is float

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
        self._patterns = {}  # `_key_of` the arguments -> `_Plan`
        self._last_shapes = None  # the last call's `_key_of`, for `latex`
        self._first = (NestedGrad(function, wrt, "value_and_grad", parallel, optimize)  # value_grad_and_hessian
                       if isinstance(function, Transform) else Transform(function, wrt, "value_and_grad", parallel,
                                                                         optimize))

    def _forget(self):
        """As `Transform._forget`, with the patterns and the gradient's transform, which the compiled
        value_grad_and_hessian calls: all were derived for the same globals."""
        with self._display_lock, self._lock:
            super()._forget()
            self._first._forget()
            self._patterns = {}

    def __call__(self, *args, **keywords):
        values = self._arguments(args, keywords)  # (the compiled Hessians are not dispatchers that name arguments)
        hvp = self.kernels.grad
        if not self._as_tuple:
            kind = self._kind(self.wrt[0])
            if kind == "float":
                self._last_shapes = self._key_of(values)
                return hvp(*values, 1.0)
            if kind == "array2":
                return self._flattened(values)
            self._one_dimensional(kind)
            return self._compressed(values) if self.sparse else self._dense(values)
        if self.sparse:
            raise ValueError("sparse=True takes one 1-D array argument as wrt, not a tuple")
        return self._blocks(values, hvp)

    def _one_dimensional(self, kind, name=None):
        """Refuse an argument of more than one axis where only floats and vectors are taken: in a tuple wrt (`name`
        given) and in the compiled loops of .kernels; a 3-D array anywhere."""
        if kind == "array1":
            return
        taken = ("a call takes a float, a 1-D or a 2-D array" if kind == "array3" else
                 "the compiled loops of .kernels take floats and 1-D arrays")
        where = (f"a {kind[-1]}-D array in a tuple wrt, which takes floats and 1-D arrays" if name is not None else
                 f"a {kind[-1]}-D array, where {taken}")
        alone = (f"take its Hessian alone (wrt={name!r}), which takes a 2-D array, or " if name is not None and
                 kind == "array2" else "")
        raise NonDifferentiableArgumentError(
            f"hessian of {self.fun.__name__}() w.r.t. {name or self.wrt[0]!r}: {where}: {alone}pass it flattened "
            "(a 1-D array, reshaped inside the function)")

    def _flattened(self, values):
        """The Hessian w.r.t. a 2-D array over its C-order elements, from one HVP per colour of its pattern (the
        compiled loops take a 1-D array): a CSR matrix with ``sparse=True``, else shaped (n, m, n, m), as
        jax.hessian."""
        import scipy.sparse

        plan = self._plan(values)
        members, member_start, pair_rows, _, pair_start, slot = plan.arrays
        x = values[self._positions[0]]
        upper = np.empty(len(pair_rows))
        for c in range(len(member_start) - 1):
            v = np.zeros(x.size)
            v[members[member_start[c]:member_start[c + 1]]] = 1.0
            product = self.kernels.grad(*values, v.reshape(x.shape)).reshape(-1)
            upper[pair_start[c]:pair_start[c + 1]] = product[pair_rows[pair_start[c]:pair_start[c + 1]]]
        matrix = scipy.sparse.csr_matrix((upper[slot], plan.indices, plan.indptr), shape=(plan.n, plan.n))
        return matrix if self.sparse else matrix.toarray().reshape(x.shape + x.shape)

    def _blocks(self, values, hvp):
        """Nested tuples: block (a, b) is d2f / da db, from the products along the unit directions of b."""
        for name in self.wrt:
            if self._kind(name) not in ("float", "array1"):
                self._one_dimensional(self._kind(name), name)
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
        """`.kernels.hessian`: a compiled function of f's arguments alone (callable from @njit code without a
        plan) looping the HVP kernel over the unit vectors: n products, the dense Hessian symmetrised."""
        return self._compiled_text(
            "def hessian({args}):\n"
            "    n = {x}.shape[0]\n"
            "    h = np.empty((n, n))\n"
            "    v = np.zeros(n)\n"
            "    for j in range(n):\n"
            "        v[j] = 1.0\n"
            "        h[:, j] = hvp({args}, v)\n"
            "        v[j] = 0.0\n"
            "    return 0.5 * (h + h.T)\n", "hessian")

    def _coloured(self, name):
        """The kernels that take a `plan` (`Hessian.plan`) after f's arguments: `hessian_values` (the upper
        triangle's structural nonzeros, one HVP per colour), `coloured_hessian` (dense), `sparse_data` (the CSR
        data) and `value_grad_and_hessian` (value, gradient and dense Hessian in one call)."""
        text = (
            "def hessian_values({args}, plan):\n"
            "    members, member_start, pair_rows, pair_columns, pair_start, slot = plan\n"
            "    if members.shape[0] != {x}.shape[0]:\n"
            f"        raise ValueError({PLAN_MISMATCH!r})\n"
            "    v = np.zeros({x}.shape[0])\n"
            "    values = np.empty(pair_rows.shape[0])\n"
            "    for c in range(member_start.shape[0] - 1):\n"
            "        for k in range(member_start[c], member_start[c + 1]):\n"
            "            v[members[k]] = 1.0\n"
            "        product = hvp({args}, v)\n"
            "        for k in range(member_start[c], member_start[c + 1]):\n"
            "            v[members[k]] = 0.0\n"
            "        for k in range(pair_start[c], pair_start[c + 1]):\n"
            "            values[k] = product[pair_rows[k]]\n"
            "    return values\n"
            "\n"
            "def coloured_hessian({args}, plan):\n"
            "    values = hessian_values({args}, plan)\n"
            "    pair_rows, pair_columns = plan[2], plan[3]\n"
            "    n = {x}.shape[0]\n"
            "    h = np.zeros((n, n))\n"
            "    for k in range(values.shape[0]):\n"
            "        h[pair_rows[k], pair_columns[k]] = values[k]\n"
            "        h[pair_columns[k], pair_rows[k]] = values[k]\n"
            "    return h\n"
            "\n"
            "def sparse_data({args}, plan):\n"
            "    return hessian_values({args}, plan)[plan[5]]\n")
        if name == "value_grad_and_hessian":  # (only then is the gradient's kernel compiled)
            text += ("\n"
                     "def value_grad_and_hessian({args}, plan):\n"
                     "    value, gradient = first({args})\n"
                     "    return value, gradient, coloured_hessian({args}, plan)\n")
        return self._compiled_text(text, name)

    def _compiled_text(self, template, name):
        """Compile `name` from `template` (over f's arguments `{args}` and the `wrt` array `{x}`), calling the HVP
        kernel `hvp` and the gradient's value_and_grad kernel `first`; bounds checked, as a kernel's accesses."""
        import numba

        module = self._load()
        self._one_dimensional(module.KINDS[self._positions[0]])
        names = [f"a{k}" for k in range(len(module.ARGUMENTS) - len(self.wrt))]
        scope = {"np": np, "hvp": self.kernels.grad}
        if "first" in template:
            if self._first._cache_key is None:  # (its kernel must take the ranks these kernels were derived for)
                self._first._observed = self._observed
            scope["first"] = self._first.kernels.value_and_grad
        text = template.format(args=", ".join(names), x=names[self._positions[0]])
        exec(compile(text, f"<symgrad hessian of {self.fun.__name__}>", "exec"), scope)  # noqa: S102
        jit = numba.njit(error_model="numpy", boundscheck=True)
        for function in [k for k, v in scope.items() if inspect.isfunction(v)]:
            scope[function] = jit(scope[function])
        return scope[name]

    # --- display -----------------------------------------------------------------------------------------
    PROBE_SIZE = 9  # the length at which an interior row's entry formulas are read off the unrolled program

    def latex(self):
        """The Hessian (its matrix up to 6 x 6; else, once a call has given the shapes, its pattern and an
        interior row's entries), then the HVP program it is computed from."""
        from .display import hessian_latex

        program = self._lifted()
        shapes = self._last_shapes
        if shapes is None and all(a.kind == "float" for a in program.arguments):
            shapes = (None,) * len(program.arguments)
        pairs = probe = None
        if shapes is not None and not self._as_tuple and self._kind(self.wrt[0]) == "array1":
            plan = self._patterns[shapes]
            pairs = np.stack([plan.arrays[2], plan.arrays[3]], axis=1)
            length = shapes[self._positions[0]][0]
            probe = tuple((self.PROBE_SIZE,) + shape[1:] if isinstance(shape, tuple) and shape[0] == length
                          else shape for shape in shapes)
        with self._display_lock:
            lines = hessian_latex(program, self.wrt, shapes, pairs, probe)
        body = super().latex()
        return body.replace("\\begin{aligned}\n", "\\begin{aligned}\n" + "".join(
            line + " \\\\\n" for line in lines) + ("&\\text{computed as the gradient of } \\nabla f \\cdot v: \\\\\n"
                                               if lines else ""), 1)

    # --- sparse ------------------------------------------------------------------------------------------
    def sparsity(self, *args, **keywords):
        """The structural nonzeros of the Hessian at arguments of these shapes (and integer values), as a
        scipy.sparse CSR matrix of ones: derived from the program, so the same at every value of the floats."""
        plan = self._plan(self._arguments(args, keywords))
        return plan.csr(np.ones(len(plan.indices)))

    def plan(self, *args, **keywords):
        """The colouring of the Hessian's pattern at arguments of these shapes, as the tuple of int64 arrays that
        the `.kernels` `coloured_hessian`, `sparse_data` and `value_grad_and_hessian` take after f's arguments."""
        return self._plan(self._arguments(args, keywords)).arrays

    def _pattern(self, values):
        """(rows, columns, n) of the pattern: both triangles, in CSR order."""
        plan = self._plan(values)
        return np.repeat(np.arange(plan.n), np.diff(plan.indptr)), plan.indices, plan.n

    def _plan(self, values):
        """The `_Plan` of the pattern, kept per `_key_of` the arguments."""
        module = self._load()
        if module.KINDS[self._positions[0]] != "array2":  # (a 2-D array's elements are its C-order positions)
            self._one_dimensional(module.KINDS[self._positions[0]])
        key = self._last_shapes = self._key_of(values)
        if key not in self._patterns:
            from .sparsity import hessian_pattern

            program = self._lifted()
            self._patterns[key] = _Plan(hessian_pattern(program, self.wrt[0], values),
                                        int(np.size(values[self._positions[0]])))
        return self._patterns[key]

    def _dense(self, values):
        """The dense Hessian from one HVP per colour of its pattern (n products only when it is dense)."""
        return self.kernels.coloured_hessian(*values, self._plan(values).arrays)

    def _compressed(self, values):
        """The structural nonzeros as a CSR matrix, from one HVP per colour."""
        plan = self._plan(values)
        return plan.csr(self.kernels.sparse_data(*values, plan.arrays))

    def _key_of(self, values):
        """What the pattern depends on (`api.pattern_key`)."""
        return pattern_key(self._load().KINDS, values)


PLAN_MISMATCH = ("the plan was made for a wrt argument of another size: make it with .plan(*args) at arguments of "
                 "these shapes (and int values)")


class _Plan:
    """A Hessian's pattern (pairs i <= j) prepared for evaluation by colours.  Entry (i, j) is row i of the product
    along column j's colour (in row i no other column of that colour is nonzero), so the upper pairs are grouped
    by their column's colour (`pair_start`), the colour classes listed in `members` (`member_start`), and `slot`
    maps each CSR position (`indices`, `indptr`, both triangles) to its upper pair: the result is symmetric."""

    def __init__(self, upper, n):
        from .sparsity import sorted_unique

        keys = sorted_unique(np.concatenate([upper[:, 0] * n + upper[:, 1], upper[:, 1] * n + upper[:, 0]]))
        full = np.stack([keys // n, keys % n], axis=1)  # sorted by row, then column
        colours = colouring(full[:, 0], full[:, 1], n)
        order = np.argsort(colours[upper[:, 1]], kind="stable")
        pair_rows, pair_columns = upper[order, 0], upper[order, 1]
        classes = colours.max() + 1 if n else 0
        pair_start = np.searchsorted(colours[pair_columns], np.arange(classes + 1)).astype(np.int64)
        members = np.argsort(colours, kind="stable").astype(np.int64)
        member_start = np.searchsorted(colours[members], np.arange(classes + 1)).astype(np.int64)
        key = np.minimum(full[:, 0], full[:, 1]) * n + np.maximum(full[:, 0], full[:, 1])
        pair_key = pair_rows * n + pair_columns
        by_key = np.argsort(pair_key)
        slot = by_key[np.searchsorted(pair_key[by_key], key)].astype(np.int64)
        self.n, self.colours = n, colours
        # (CSR indices in int32 where they fit, as scipy keeps them: it would otherwise convert them on every call)
        index = np.int32 if len(full) < 2**31 - 1 else np.int64
        self.indices = np.ascontiguousarray(full[:, 1], dtype=index)
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(full[:, 0], minlength=n))]).astype(index)
        self.arrays = (members, member_start, np.ascontiguousarray(pair_rows), np.ascontiguousarray(pair_columns),
                       pair_start, slot)
        self._template = None

    def csr(self, data):
        """The CSR matrix of `data` (in CSR order) on the pattern.  scipy's constructor checks the structure on
        every call, which took longer than the products of a small Hessian; this is a shallow copy of a matrix
        checked once, with `data` and its own copies of `indices` and `indptr` (scipy's eliminate_zeros and
        prune change those in place, which must not reach the next call's matrix)."""
        if self._template is None:
            import scipy.sparse

            template = scipy.sparse.csr_matrix((np.zeros(len(self.indices)), self.indices, self.indptr),
                                               shape=(self.n, self.n))
            template.has_canonical_format  # noqa: B018 (checked once: sorted, no duplicates; copies inherit it)
            self._template = template
        matrix = object.__new__(type(self._template))
        matrix.__dict__.update(self._template.__dict__)
        matrix.data, matrix.indices, matrix.indptr = data, self.indices.copy(), self.indptr.copy()
        return matrix


class ValueGradAndHessian(Hessian):
    """(value, gradient, Hessian) for Newton's method.  For a 1-D array `wrt` one compiled call computes all three
    (`.kernels.value_grad_and_hessian(*args, plan)`: the gradient's value_and_grad kernel and one HVP per colour);
    sparse, and for float or tuple `wrt`, the first two come from that kernel and the Hessian as `hessian` does."""

    def __call__(self, *args, **keywords):
        values = self._arguments(args, keywords)
        if self._as_tuple or self.sparse or self._kind(self.wrt[0]) != "array1":
            value, gradient = self._first(*values)
            return value, gradient, super().__call__(*values)
        return self.kernels.value_grad_and_hessian(*values, self._plan(values).arrays)


def colouring(rows, columns, n, m=None):
    """A greedy distance-2 colouring of the pattern's n columns, m rows (`sparsity.colouring`): two columns sharing
    a row get different colours, so one product along the sum of a colour's unit vectors recovers every entry of
    those columns.  (A Jacobian's rows are coloured by swapping `rows` and `columns`.)"""
    from .sparsity import colouring as greedy

    return greedy(rows, columns, n, m)


class NestedGrad(_SecondOrder):
    """`grad(grad(f))` and deeper, for float arguments: the derivative of the inner gradients w.r.t. `wrt`."""

    _seeded = False

    def __init__(self, inner, wrt, mode, parallel=False, optimize=True):
        super().__init__(inner, wrt, parallel, optimize)
        self._mode = mode  # (the call goes straight to the dispatcher, as a gradient's: `Transform.__call__`)


def _unwrapped(inner, outer):
    """f and the float arguments along which a nested transform differentiates it before `outer` does: the inner
    transform must be a (nested) grad w.r.t. one float argument, a scalar function of f's arguments."""
    if isinstance(inner, _SecondOrder) and not isinstance(inner, NestedGrad) or inner._as_tuple or \
            inner._mode != "grad":
        raise TypeError(f"{outer} of a transform: the inner transform must be a grad with respect to one float "
                        f"argument (its gradient is then a scalar function of the same arguments), not {inner!r}")
    return inner.fun, getattr(inner, "_directions", ()) + tuple(inner.wrt)


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


__all__ = ["hvp", "hessian", "value_grad_and_hessian", "HVP", "Hessian", "ValueGradAndHessian", "NestedGrad"]
