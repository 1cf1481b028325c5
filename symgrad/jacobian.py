"""Jacobians of functions returning an array or a tuple of numbers: J t, u^T J, and the matrix itself.

A function returning an array (a tuple of numbers is packed into one, `_packed`) is differentiated two ways, each
into a module of kernels of its own whose arguments are f's followed by a seed:

- forward: the tangent of every value along a direction t, one seed per `wrt` argument (`forward.Tangents`, as
  `forward.directional` does it); the `grad` kernel is J t, shaped like the output;
- reverse: the gradient of u^T f, the weights u shaped like the output (`_reverse`); the `grad` kernel is u^T J,
  shaped like the `wrt` arguments.

Both modules' `value` kernel is f itself (the seed unread) and both define `output_shape`, f's output shape from
its arguments' shapes, in plain Python.  The dense Jacobian is one compiled loop over unit seeds (its columns in
forward mode, its rows in reverse mode, whichever are fewer); the sparse one takes one product per colour of a
colouring of the pattern that `sparsity.jacobian_pattern` derives from the program, and keeps only the nonzeros.
"""

import dataclasses
import math
import numbers

import numpy as np

from . import module_values
from .api import Kernels, Transform, _argument_problem, _positional, built, derive_with, lifted, pattern_key
from .second_order import _made, _SecondOrder, ambiguous_keyword, colouring, seed_arguments

MODES = (None, "fwd", "rev")
LANES = 8  # directions a forward Jacobian carries per sweep, at most: the values are computed once per 8 columns
ELEMENT_LIMIT = 64  # a forward Jacobian w.r.t. an array read at this many constant indices or fewer: one sweep
DIRECTIONS = {"fwd": "forward", "rev": "reverse"}


# --- derivation ----------------------------------------------------------------------------------------------
def _stages(function, wrt, direction, lanes, as_tuple, parallel, enabled, observed):
    """Lift f (returning an array or a tuple), then its forward (J t, along `lanes` directions at once; with
    several lanes and one array `wrt` read at constant indices only, J itself, `_by_element`) or reverse (u^T J)
    derivative's kernels.  The module also gets `output_shape` and `ELEMENTS`, the elements whose columns of J a
    `_by_element` kernel computes (None for the other kernels)."""
    program = _packed(lifted(function, wrt, several=True, observed=observed))
    refusal = module_values.not_passed("sg.jacobian", program.name, program.passed_globals)
    if refusal:
        raise refusal
    elements = _constant_reads(program, wrt) if direction == "forward" and lanes > 1 else None
    derivative = _by_element(program, wrt[0], elements) if elements is not None else None
    if derivative is not None:
        as_tuple = False
    elif direction == "forward":
        elements = None
        derivative, as_tuple = _forward(program, wrt, lanes), lanes > 1  # (one J t per lane, whatever `wrt`)
    else:
        derivative = _reverse(program, wrt, enabled)
    return built(derivative, wrt, as_tuple, parallel, enabled,
                 _output_shape_source(program) + f"\n\nELEMENTS = {elements!r}\n")


def _constant_reads(program, wrt):
    """The indices at which the program reads its one 1-D array `wrt` argument, when each is a constant (a
    parameter vector: p[0], p[1], ..) and there are at most ELEMENT_LIMIT of them; else None."""
    import sympy as sp

    from .ir import ARRAY1, Allocate, Assign, Loop, Store, walk

    if len(wrt) != 1 or program.argument(wrt[0]).kind != ARRAY1:
        return None
    label = program.argument(wrt[0]).symbol
    expressions = []
    for statement in walk(program.body):
        if isinstance(statement, Assign):
            expressions += [statement.value, statement.guard]
        elif isinstance(statement, Store):
            expressions += [statement.value, *statement.indices]
        elif isinstance(statement, Loop):
            expressions += [statement.start, statement.stop, statement.step]
            expressions += [e for c in statement.carried for e in (c.initial, c.next)]
        elif isinstance(statement, Allocate):
            expressions += list(statement.shape)
    reads = {e for expression in expressions for e in sp.sympify(expression).atoms(sp.Indexed)
             if e.base.label == label}
    if not reads or not all(e.indices[0].is_Integer and e.indices[0] >= 0 for e in reads) or len(reads) > ELEMENT_LIMIT:
        return None
    return tuple(sorted(int(e.indices[0]) for e in reads))


def _element_tangents(program, label, elements):
    """`forward.Tangents` whose parameters are the elements x[c] read at constant indices (x's label `label`): the
    tangent of x[c] along parameter c is 1, along the others 0, so each value carries only the tangents of the
    elements it reads (a zero tangent stays the number 0, with no statement)."""
    import sympy as sp

    from .forward import Tangents

    class ElementTangents(Tangents):
        def of(self, atom, parameter):
            if isinstance(atom, sp.Indexed) and atom.base.label == label:
                return sp.Integer(1 if parameter == f"{label}{atom.indices[0]}" else 0)
            return super().of(atom, parameter)

    return ElementTangents(program, [f"{label}{c}" for c in elements], seeds={})


def _by_element(program, name, elements):
    """The Derivative whose `grad` kernel returns the Jacobian itself, of shape output.shape + (n,) for the n
    elements of `name`: one sweep carries the tangents of the `elements` the program reads, and each store of the
    output's tangent along element c goes straight into column c (a row of J is written where its residual is
    computed; the columns of elements never read stay zero).  None when the program reads its own output back
    (its tangents would have to be read back from the columns)."""
    import sympy as sp

    from .ir import Allocate, Derivative, Loop, Store
    from .reverse import _symbols_used, unique_symbol

    symbol = program.argument(name).symbol
    tangents = _element_tangents(program, symbol, elements)
    body = tangents.statements(program.body)
    output = _output_base(program)
    columns = {tangents.tangent[(output.label, f"{symbol}{c}")].label: c for c in elements}
    if any(set(columns) & _symbols_used(s) for s in body):
        return None
    shape = tuple(output.shape) + (program.argument(name).shape[0],)
    matrix = sp.IndexedBase(unique_symbol(tangents.used_names, f"{output.label}_jacobian"), shape=shape)

    def into_columns(statements):
        rewritten, allocated = [], False
        for s in statements:
            if isinstance(s, Allocate) and s.base.label in columns:
                if not allocated:
                    rewritten.append(Allocate(matrix, shape, s.line))
                allocated = True
            elif isinstance(s, Store) and s.base.label in columns:
                rewritten.append(Store(matrix, s.indices + (sp.Integer(columns[s.base.label]),), s.value,
                                       s.accumulate, s.line))
            elif isinstance(s, Loop):
                rewritten.append(dataclasses.replace(s, body=into_columns(s.body)))
            else:
                rewritten.append(s)
        return rewritten

    return Derivative(program, [name], into_columns(body), [], [matrix.label], mode="forward")


def _used_names(program):
    from .reverse import defined_names

    used = {a.name for a in program.arguments} | {s.name for a in program.arguments for s in a.shape}
    return used | defined_names(program.body)


def _packed(program):
    """`program` returning an array: a tuple of numbers is stored into a local array of its length."""
    import sympy as sp

    from .ir import Allocate, Store
    from .reverse import unique_symbol

    if program.output_shape is not None:
        return program
    size = sp.Integer(len(program.outputs))
    base = sp.IndexedBase(unique_symbol(_used_names(program), f"{program.name}_output"), shape=(size,))
    stores = [Store(base, (sp.Integer(k),), value) for k, value in enumerate(program.outputs)]
    return dataclasses.replace(program, body=program.body + [Allocate(base, (size,))] + stores,
                               outputs=[base.label], output_shape=(size,))


def _output_base(program):
    """The IndexedBase of the local array the program returns."""
    from .ir import Allocate, walk

    return next(s.base for s in walk(program.body) if isinstance(s, Allocate) and s.base.label == program.outputs[0])


def _forward(program, wrt, lanes):
    """The Derivative whose `grad` kernel is J t along each of `lanes` directions, each given by seed arguments
    (`t`, or `t0`, `t1`, .. with several lanes; one per `wrt` argument, shaped like it) appended in lane order:
    the values are computed once and their tangents along every lane beside them."""
    from .forward import Tangents
    from .ir import Derivative

    seeded = program
    directions = {}
    for lane in range(lanes):
        seeds, arguments = seed_arguments(seeded, wrt, "t" if lanes == 1 else f"t{lane}")
        directions[f"d{lane}"] = seeds
        seeded = dataclasses.replace(seeded, arguments=seeded.arguments + arguments)
    tangents = Tangents(program, list(directions), seeds={})
    tangents.used_names |= {a.name for a in seeded.arguments} | {s.name for a in seeded.arguments for s in a.shape}
    for direction, seeds in directions.items():
        for name, seed in seeds.items():
            tangents.tangent[(program.argument(name).symbol, direction)] = seed
    body = tangents.statements(program.body)
    gradients = [tangents.of(program.outputs[0], direction).label for direction in directions]  # (the output's
    return Derivative(seeded, list(wrt), body, [], gradients, mode="forward")  # tangent arrays)


def _reverse(program, wrt, enabled):
    """The Derivative whose `grad` kernel is u^T J: reverse mode on sum_i u[i] * f(x)[i], with u an argument
    shaped like the output; its program stays f, so that its `value` kernel returns f's array."""
    import sympy as sp

    from .ir import ARRAY1, ARRAY2, Argument, Assign, Carried, Loop
    from .reverse import reverse, unique_symbol

    used = _used_names(program)
    shape = program.output_shape
    label = unique_symbol(used, "u")
    sizes = tuple(sp.Symbol(unique_symbol(used, f"u_shape{k}").name, integer=True, nonnegative=True)
                  for k in range(len(shape)))
    u = Argument(label.name, label, ARRAY1 if len(shape) == 1 else ARRAY2, sp.IndexedBase(label, shape=sizes), sizes)
    indices = tuple(sp.Symbol(unique_symbol(used, f"i{k}").name, integer=True) for k in range(len(shape)))
    output = _output_base(program)

    def summed(axis, initial):
        """The loop over `axis` (and those inside it) adding u * f to `initial`, and the symbol of its sum."""
        phi, result = unique_symbol(used, "s"), unique_symbol(used, "s_total")
        if axis == len(shape) - 1:
            following = unique_symbol(used, "s_next")
            body = [Assign(following, phi + u.base[indices] * output[indices])]
        else:
            inner, following = summed(axis + 1, phi)
            body = [inner]
        loop = Loop(indices[axis], sp.Integer(0), shape[axis], sp.Integer(1), body,
                    [Carried(phi, initial, following, result)])
        return loop, result

    loop, total = summed(0, sp.Float(0.0))
    weighted = dataclasses.replace(program, arguments=program.arguments + [u], body=program.body + [loop],
                                   outputs=[total], output_shape=None)
    derivative = reverse(weighted, list(wrt), enabled=enabled)
    derivative.program = dataclasses.replace(program, arguments=weighted.arguments)
    return derivative


def _output_shape_source(program):
    """`output_shape(<f's arguments>)`: f's output shape, a plain function of the generated module."""
    from .codegen import NumbaPrinter

    printer = NumbaPrinter()
    lines = [f"def output_shape({', '.join(a.name for a in program.arguments)}):"]
    lines += [f"    {size.name} = {a.name}.shape[{k}]" for a in program.arguments for k, size in enumerate(a.shape)]
    lines.append(f"    return ({''.join(f'{printer.doprint(size)}, ' for size in program.output_shape)})")
    return "\n\n\n" + "\n".join(lines) + "\n"


# --- the compiled loops ---------------------------------------------------------------------------------------
def _dense_loop_source(direction, lanes, count, positions, kinds):
    """The text of `jacobian(a0, ..)` (f's `count` arguments): J as products along unit seeds, an (outputs,
    elements) block per `wrt` argument at `positions`.  Forward: the input elements, numbered through the blocks,
    `lanes` at a time, each lane's product a column; reverse: one product per output element, each a row."""
    names = [f"a{k}" for k in range(count)]
    arguments = ", ".join(names)
    lines = [f"def jacobian({arguments}):",
             f"    shape = output_shape({arguments})",
             "    m = 1",
             "    for size in shape:",
             "        m *= size"]
    blocks = [f"J{b}" for b in range(len(positions))]
    for b, (position, kind) in enumerate(zip(positions, kinds)):
        lines.append(f"    n{b} = {'1' if kind == 'float' else names[position] + '.size'}")
        lines.append(f"    J{b} = np.empty((m, n{b}))")
    if direction == "forward":
        lines.append("    o0 = 0")
        for b in range(1, len(positions)):
            lines.append(f"    o{b} = o{b - 1} + n{b - 1}")
        seeds = []
        for lane in range(lanes):
            for b, (position, kind) in enumerate(zip(positions, kinds)):
                seeds.append(f"s{lane}_{b}")
                lines += ([f"    s{lane}_{b} = 0.0"] if kind == "float" else
                          [f"    s{lane}_{b} = np.zeros({names[position]}.shape)",
                           f"    f{lane}_{b} = s{lane}_{b}.reshape(-1)"])

        def unit(lane, value):
            """The lines putting `value` at lane's element g (in the block holding it)."""
            out = []
            for b, kind in enumerate(kinds):
                out.append(f"        if o{b} <= g < o{b} + n{b}:")
                out.append(f"            s{lane}_{b} = {value}" if kind == "float" else
                           f"            f{lane}_{b}[g - o{b}] = {value}")
            return out

        lines.append(f"    for g0 in range(0, o{len(positions) - 1} + n{len(positions) - 1}, {lanes}):")
        for lane in range(lanes):
            lines.append(f"        g = g0 + {lane}")
            lines += unit(lane, "1.0")
        lines.append(f"        products = grad({arguments}, {', '.join(seeds)})")
        for lane in range(lanes):
            product = "products" if lanes == 1 else f"products[{lane}]"
            lines.append(f"        g = g0 + {lane}")
            lines += unit(lane, "0.0")
            for b in range(len(positions)):
                lines += [f"        if o{b} <= g < o{b} + n{b}:",
                          f"            J{b}[:, g - o{b}] = {product}.reshape(-1)"]
    else:
        lines += ["    u = np.zeros(shape)",
                  "    flat = u.reshape(-1)",
                  "    for i in range(m):",
                  "        flat[i] = 1.0",
                  f"        g = grad({arguments}, u)"]
        for b, kind in enumerate(kinds):
            g = "g" if len(kinds) == 1 else f"g[{b}]"
            lines.append(f"        J{b}[i, 0] = {g}" if kind == "float" else f"        J{b}[i, :] = {g}.reshape(-1)")
        lines.append("        flat[i] = 0.0")
    lines.append(f"    return {blocks[0] if len(blocks) == 1 else '(' + ', '.join(blocks) + ')'}")
    return "\n".join(lines) + "\n"


def _compressed_loop_source(lanes, count):
    """The text of `compressed(a0, .., seeds, colour, read)`: the products along the colours' seeds (the rows of
    `seeds`), `lanes` at a time, entry e of the pattern read from element `read[e]` of colour `colour[e]`'s."""
    arguments = ", ".join(f"a{k}" for k in range(count))
    seeds = ", ".join(f"seeds[c0 + {lane}] if c0 + {lane} < colours else zero" for lane in range(lanes))
    lines = [f"def compressed({arguments}, seeds, colour, read):",
             "    data = np.empty(colour.shape[0])",
             "    colours = seeds.shape[0]",
             "    zero = np.zeros(seeds.shape[1])",
             f"    for c0 in range(0, colours, {lanes}):",
             f"        products = grad({arguments}, {seeds})",
             "        for e in range(colour.shape[0]):"]
    for lane in range(lanes):
        lines += [f"            if colour[e] == c0 + {lane}:",
                  f"                data[e] = products{'' if lanes == 1 else f'[{lane}]'}[read[e]]"]
    lines.append("    return data")
    return "\n".join(lines) + "\n"


# --- the transforms -------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)

class _Sweep:
    """Where a Jacobian that is one forward sweep goes directly: the kernel, f's argument count, f's
    `output_shape` and the number of elements the sweep carries tangents of."""

    kernel: object
    count: int
    output_shape: object
    columns: int


class _JacobianKernels(Kernels):
    """A product's dispatchers (`value`: f, `grad`: the product, `value_and_grad`; `jvp` or `vjp`: J t or u^T J
    along one seed), and `output_shape`, `jacobian` (the dense loop) and `compressed` (the sparse one), compiled
    on first access; all callable from the user's @njit code."""

    def __getattr__(self, name):
        owner = self._owner
        if name in ("jvp", "vjp"):
            return owner._in("forward" if name == "jvp" else "reverse", single=True).kernels.grad
        if name in ("output_shape", "jacobian", "compressed"):
            with owner._lock:
                if name not in self.__dict__:
                    setattr(self, name, owner._loop(name))
            return self.__dict__[name]
        return super().__getattr__(name)


class _Product(_SecondOrder):
    """Common to J t, u^T J and the Jacobian: the module of one direction, its kernels and its call checks."""

    _direction = "forward"
    _lanes = 1

    def __init__(self, function, wrt, parallel=False, optimize=True):
        if isinstance(function, Transform):  # (the second-order transforms differentiate an inner grad; not these)
            raise TypeError(f"{type(self).__name__.lower()} of a transform ({function!r}): pass the plain Python "
                            "function; the Jacobian of a gradient is the Hessian, sg.hessian(f)")
        super().__init__(function, wrt, parallel, optimize)
        self.kernels = _JacobianKernels(self)

    @property
    def _product_name(self):
        return "jvp" if self._direction == "forward" else "vjp"

    def _variant(self):
        return ("jacobian", self._direction, self._lanes)

    def _derive(self):
        return derive_with(_stages, self.fun, self.wrt, self._direction, self._lanes, self._as_tuple, self.parallel,
                           self.passes, dict(self._observed))

    def _in(self, direction, single=False):
        """The transform whose kernels run `direction` (one seed per call when `single`): this one."""
        if direction != self._direction:
            raise AttributeError(f"{self!r} has no {'jvp' if direction == 'forward' else 'vjp'} kernel: its products "
                                 f"are {'J t' if self._direction == 'forward' else 'u^T J'}")
        return self

    def _values(self, args, keywords):
        """f's arguments of a call, checked (the first call's array ranks decide the kinds the body leaves open);
        a call passing all of them by position skips the binding of keywords and defaults."""
        if keywords or len(args) != self._count() or self._module is None or self._module.FOLDED:  # (checked there)
            self._observe(args, keywords)
            return self._arguments(args, keywords)
        for name, kind, value in zip(self._module.ARGUMENTS, self._module.KINDS, args):
            problem = _argument_problem(kind, value)
            if problem:
                raise TypeError(f"{self.fun.__name__}(): argument {name!r} {problem}")
        return args

    def _count(self):
        return self.fun.__code__.co_argcount + self.fun.__code__.co_kwonlyargcount

    def output_shape(self, *args, **keywords):
        """The shape of f's output for these arguments (from their shapes and int values alone)."""
        return tuple(int(size) for size in self._load().output_shape(*self._values(args, keywords)))

    def value(self, *args, **keywords):
        """f's value (an ndarray; a tuple return gives one of its length), from the compiled `value` kernel."""
        values = self._values(args, keywords)
        return self.kernels.value(*values, *self._zero_seeds(values))

    value_and_grad = _SecondOrder._no_value

    def _zero_seeds(self, values):
        """Seeds the `value` kernel takes and does not read."""
        if self._direction == "reverse":
            return (np.zeros(self._load().output_shape(*values)),)
        if self._load().ELEMENTS is not None:
            return ()
        seeds = tuple(np.zeros(np.shape(values[p])) if np.ndim(values[p]) else 0.0 for p in self._positions)
        return seeds * self._lanes

    def _loop(self, name):
        """The compiled `output_shape`, dense `jacobian` loop or sparse `compressed` loop of this module."""
        import numba

        module = self._load()
        shape = numba.njit(module.output_shape)
        if name == "output_shape":
            return shape
        kinds = [module.KINDS[p] for p in self._positions]
        if name == "jacobian" and module.ELEMENTS is not None:
            return self.kernels.grad  # (its one sweep writes J)
        if name == "jacobian":
            text = _dense_loop_source(self._direction, self._lanes, self._count(), self._positions, kinds)
        else:
            text = _compressed_loop_source(self._lanes, self._count())
        scope = {"np": np, "grad": self.kernels.grad, "output_shape": shape}
        exec(compile(text, f"<symgrad {name} of {self.fun.__name__}>", "exec"), scope)  # noqa: S102
        return numba.njit(error_model="numpy")(scope[name])

    def _split(self, args, keywords, seed):
        """(f's arguments, the seed): the seed is the last positional argument, or the keyword `seed`."""
        if seed in keywords:
            ambiguous_keyword(self._product_name, self.fun, seed)
            return args, keywords, keywords.pop(seed)
        if not args:
            raise TypeError(f"{self._product_name} of {self.fun.__name__}() is called as "
                            f"{self._product_name}(*args, {seed}): {seed} is missing")
        return args[:-1], keywords, args[-1]

    def _seed(self, name, seed, shape, what):
        """`seed` as the kernel takes it: a float64 array of `shape` (a float when `shape` is None), or a
        ValueError naming it and what it must match."""
        if shape is None:
            if isinstance(seed, numbers.Real) and not isinstance(seed, (bool, np.bool_)):
                return float(seed)
            raise ValueError(f"{self._product_name} of {self.fun.__name__}(): {name} must be a float, as {what} "
                             f"is, got {type(seed).__name__}")
        if isinstance(seed, (list, tuple, np.ndarray)):
            seed = np.ascontiguousarray(seed, dtype=np.float64)
            if seed.shape == shape:
                return seed
        got = seed.shape if isinstance(seed, np.ndarray) else type(seed).__name__
        raise ValueError(f"{self._product_name} of {self.fun.__name__}(): {name} must have the shape {shape} of "
                         f"{what}, got {got}")


class JVP(_Product):
    """J t, the Jacobian of f w.r.t. `wrt` times t, without forming J: ``jvp(*args, t)``, shaped like f's output
    (t shaped like the `wrt` argument; a tuple of them for a tuple `wrt`)."""

    def __call__(self, *args, **keywords):
        args, keywords, t = self._split(args, keywords, "t")
        values = self._values(args, keywords)
        seeds = t if self._as_tuple else (t,)
        if self._as_tuple and (not isinstance(t, (tuple, list)) or len(t) != len(self.wrt)):
            raise ValueError(f"jvp of {self.fun.__name__}(): t must be a tuple of {len(self.wrt)} directions, one "
                             f"per argument of wrt={self.wrt}")
        checked = [self._seed("t", seed, np.shape(values[p]) if np.ndim(values[p]) else None, f"argument {name!r}")
                   for seed, p, name in zip(seeds, self._positions, self.wrt)]
        return self.kernels.grad(*values, *checked)


class VJP(_Product):
    """u^T J, the Jacobian of f w.r.t. `wrt` seen from the output's side: ``vjp(*args, u)``, u shaped like f's
    output, the result like the `wrt` argument (a tuple for a tuple `wrt`); one reverse sweep."""

    _direction = "reverse"

    def __call__(self, *args, **keywords):
        args, keywords, u = self._split(args, keywords, "u")
        values = self._values(args, keywords)
        shape = tuple(int(s) for s in self._load().output_shape(*values))
        return self.kernels.grad(*values, self._seed("u", u, shape, "the output"))


class Jacobian(_Product):
    """The Jacobian of f w.r.t. `wrt`: an ndarray of shape output.shape + the `wrt` argument's shape (a tuple of
    them for a tuple `wrt`, as jax.jacrev); with ``sparse=True`` a CSR matrix of its structural nonzeros.
    `mode` "fwd" takes one J t per input element, "rev" one u^T J per output element; None the fewer."""

    _sweep = None  # a `_Sweep` once a call found the Jacobian to be one forward sweep
    _sweep_kernel = "grad"  # the kernel of that sweep a call returns

    def __init__(self, function, wrt, sparse=False, mode=None, parallel=False, optimize=True):
        if mode not in MODES:
            raise ValueError(f"mode={mode!r}: choose 'fwd' (one forward sweep per input element), 'rev' (one "
                             "reverse sweep per output element) or None (the fewer sweeps)")
        self._direction = DIRECTIONS.get(mode, "forward")  # (what .latex(), .source() and .kernels show)
        super().__init__(function, wrt, parallel, optimize)
        self.sparse, self.mode = bool(sparse), mode
        self._twins = {}
        self._patterns = {}

    def _forget(self):
        """As `Transform._forget`, with the twins and the patterns, which were derived for the same globals."""
        with self._display_lock, self._lock:
            super()._forget()
            self._twins, self._patterns, self._sweep = {}, {}, None

    def _twin(self, cls):
        """A `JVP` or `VJP` of the same function and options (the same cached module as this transform's in its
        direction), made once; it sees the ranks this transform's first call saw."""
        with self._lock:
            if cls not in self._twins:
                self._twins[cls] = cls(self.fun, self._wrt_argument, self.parallel,
                                       {name: name in self.passes for name in _all_passes()})
                self._twins[cls]._observed = self._observed
            return self._twins[cls]

    def _in(self, direction, single=False):
        """The transform whose kernels run `direction`: this one, or its twin (always for `single`, one product
        per call, where this one carries several lanes)."""
        if direction == self._direction and not single:
            return self
        return self._twin(JVP if direction == "forward" else VJP)

    def _values(self, args, keywords):
        """As `_Product._values`; the first call also sets the lanes of a forward Jacobian: min(LANES, inputs)."""
        if self._direction == "forward" and self._cache_key is None:
            values = _positional(self.fun, args, keywords)  # (a TypeError naming what is missing)
            self._lanes = max(1, min(LANES, sum(int(np.size(values[p])) for p in self._positions)))
        return super()._values(args, keywords)

    def __call__(self, *args, **keywords):
        sweep = self._one_sweep(args, keywords)
        return sweep(*args) if sweep is not None else self._matrix(args, keywords)

    def _matrix(self, args, keywords):
        """The Jacobian the long way: arguments bound and checked, the direction chosen from the sizes (a first
        call whose Jacobian is one forward sweep sets `_sweep`, which later calls go to directly)."""
        if self.sparse and self._as_tuple:
            return tuple(block(*args, **keywords) for block in self._sparse_blocks())
        values = self._values(args, keywords)
        if self.sparse:
            return self._compressed(values)
        module = self._load()
        shape = tuple(module.output_shape(*values))
        direction = self._direction
        if self.mode is None:
            inputs = len(module.ELEMENTS) if module.ELEMENTS is not None else \
                sum(int(np.size(values[p])) for p in self._positions)
            if inputs > math.prod(shape):
                direction = "reverse"  # (fewer outputs than inputs: one reverse sweep per output)
        if direction == "forward" and module.ELEMENTS is not None and len(module.ARGUMENTS) == self._count() \
                and not module.FOLDED:  # (a module-level number is checked on the long way, `_arguments`)
            self._sweep = _Sweep(getattr(self.kernels, self._sweep_kernel), self._count(), module.output_shape,
                                 len(module.ELEMENTS))
        blocks = self._in(direction).kernels.jacobian(*values)
        shaped = tuple(block.reshape(shape + np.shape(values[p]))
                       for block, p in zip(blocks if self._as_tuple else (blocks,), self._positions))
        return shaped if self._as_tuple else shaped[0]

    def _one_sweep(self, args, keywords):
        """The dispatcher a call goes to directly, when an earlier call found the Jacobian to be one forward sweep
        (`_by_element`, its kernel returning J as it is) and this one passes f's arguments by position with at
        least as many outputs as the elements read (or `mode` set); else None.  The dispatcher names a wrong
        argument itself; arguments whose output shape cannot be read go the long way, which names them too."""
        sweep = self._sweep
        if sweep is None or keywords or len(args) != sweep.count:
            return None
        if self.mode is None:
            try:
                outputs = math.prod(sweep.output_shape(*args))
            except Exception:  # noqa: BLE001 (a wrong argument: `_matrix` checks them and names it)
                return None
            if outputs < sweep.columns:
                return None
        return sweep.kernel

    def jvp(self, *args, **keywords):
        """J t (see `sg.jvp`)."""
        return self._twin(JVP)(*args, **keywords)

    def vjp(self, *args, **keywords):
        """u^T J (see `sg.vjp`)."""
        return self._twin(VJP)(*args, **keywords)

    # --- sparse ------------------------------------------------------------------------------------------
    def sparsity(self, *args, **keywords):
        """The structural nonzeros of the Jacobian at arguments of these shapes (and int values), as a
        scipy.sparse CSR matrix of ones: derived from the program, the same at every value of the floats."""
        import scipy.sparse

        if self._as_tuple:
            return tuple(block.sparsity(*args, **keywords) for block in self._sparse_blocks())
        rows, columns, shape = self._pattern(self._values(args, keywords))[:3]
        return scipy.sparse.csr_matrix((np.ones(len(rows)), (rows, columns)), shape=shape)

    def _pattern(self, values):
        """(rows, columns, (m, n), direction, seeds, colour, read) of the pattern, kept per `api.pattern_key`:
        the colouring is of the columns in forward mode, of the rows in reverse mode, whichever has fewer colours
        (or as `mode` says)."""
        key = pattern_key(self._load().KINDS, values)
        if key not in self._patterns:
            from .sparsity import jacobian_pattern

            self._sparse_shapes(values)
            program = _packed(lifted(self.fun, self.wrt, several=True, observed=dict(self._observed)))
            rows, columns = (np.array(e, dtype=np.int64) for e in jacobian_pattern(program, self.wrt[0], values))
            m, n = int(np.prod(self.output_shape(*values))), int(np.size(values[self._positions[0]]))
            by_column, by_row = colouring(rows, columns, n, m), colouring(columns, rows, m, n)
            directions = {"forward": (by_column, columns, rows, n), "reverse": (by_row, rows, columns, m)}
            if self.mode is None:
                direction = min(directions, key=lambda d: (directions[d][0].max(initial=-1), d != "forward"))
            else:
                direction = DIRECTIONS[self.mode]
            colours, coloured, read, size = directions[direction]
            seeds = np.zeros((colours.max(initial=-1) + 1, size))
            seeds[colours, np.arange(size)] = 1.0
            self._patterns[key] = (rows, columns, (m, n), direction, seeds, colours[coloured], read)
        return self._patterns[key]

    def _sparse_blocks(self):
        """For a tuple `wrt` with sparse=True: a sparse Jacobian per argument (its block of columns, coloured on
        its own), made once."""
        with self._lock:
            if "blocks" not in self._twins:
                options = {name: name in self.passes for name in _all_passes()}
                self._twins["blocks"] = tuple(Jacobian(self.fun, name, True, self.mode, self.parallel, options)
                                              for name in self.wrt)
            return self._twins["blocks"]

    def _kind_of(self, position):
        return self._load().KINDS[position]

    def _sparse_shapes(self, values):
        """sparse=True takes 1-D array `wrt` arguments and a function returning a 1-D array or a tuple."""
        kind = self._kind_of(self._positions[0])
        if kind != "array1":
            raise ValueError(f"jacobian of {self.fun.__name__}() with sparse=True takes 1-D array arguments as wrt "
                             f"(one, or a tuple of them: a CSR matrix per argument), but {self.wrt[0]!r} is "
                             f"{'a float' if kind == 'float' else 'a ' + kind[-1] + '-D array'}: leave it out of wrt, "
                             "or use sparse=False")
        if len(self.output_shape(*values)) != 1:
            raise ValueError(f"jacobian of {self.fun.__name__}() with sparse=True needs a function returning a 1-D "
                             f"array or a tuple, not an array of shape {self.output_shape(*values)}")

    def _compressed(self, values):
        """The structural nonzeros from one product per colour, as a CSR matrix."""
        import scipy.sparse

        rows, columns, shape, direction, seeds, colour, read = self._pattern(values)
        product = self._in(direction)
        if product._load().ELEMENTS is not None:  # (one sweep gives the columns; the pattern picks the entries)
            data = product.kernels.jacobian(*values)[rows, columns]
        else:
            data = product.kernels.compressed(*values, seeds, colour, read)
        return scipy.sparse.csr_matrix((data, (rows, columns)), shape=shape)


class ValueAndJacobian(Jacobian):
    """(f's value, its Jacobian): the value from the `value` kernel, an ndarray (of length m for a tuple); both from
    the one sweep's `value_and_grad` kernel where the Jacobian is one forward sweep."""

    _sweep_kernel = "value_and_grad"

    def __call__(self, *args, **keywords):
        sweep = self._one_sweep(args, keywords)
        if sweep is not None:
            return sweep(*args)
        return self.value(*args, **keywords), self._matrix(args, keywords)


def _all_passes():
    from .passes import ALL

    return ALL


def jacobian(function=None, wrt=0, sparse=False, mode=None, parallel=False, optimize=True):
    """The Jacobian of a function returning an array or a tuple of numbers: shape output.shape + the `wrt`
    argument's shape (a tuple of them for a tuple `wrt`); ``sparse=True``: a CSR matrix of the structural
    nonzeros (one 1-D `wrt`, a 1-D output), `.sparsity()` its pattern; ``mode``: "fwd", "rev" or None (chosen
    from the sizes)."""
    return _made(Jacobian, function, wrt, sparse, mode, parallel, optimize)


def value_and_jacobian(function=None, wrt=0, sparse=False, mode=None, parallel=False, optimize=True):
    """Like `jacobian`, but calling it returns ``(value, jacobian)``."""
    return _made(ValueAndJacobian, function, wrt, sparse, mode, parallel, optimize)


def jvp(function=None, wrt=0, parallel=False, optimize=True):
    """J t without forming J: ``jvp(f)(*args, t)``, t shaped like the `wrt` argument, the result like f's output;
    one forward sweep."""
    return _made(JVP, function, wrt, parallel, optimize)


def vjp(function=None, wrt=0, parallel=False, optimize=True):
    """u^T J without forming J: ``vjp(f)(*args, u)``, u shaped like f's output, the result like the `wrt`
    argument; one reverse sweep."""
    return _made(VJP, function, wrt, parallel, optimize)


__all__ = ["jacobian", "value_and_jacobian", "jvp", "vjp", "Jacobian", "ValueAndJacobian", "JVP", "VJP"]
