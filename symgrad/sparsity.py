"""The structural nonzeros of a Hessian (or a Jacobian), derived from the program rather than guessed from values.

The program is run abstractly for given array shapes and integer arguments: integers (loop indices, sizes,
integer arguments) are computed, and every float value carries the set of elements of the `wrt` array it depends
on.  Each nonlinear operation adds the pairs of elements that can interact in it (the product of two factors'
sets, the square of a smooth function's argument's set) to one pattern, which contains every nonzero of the
Hessian at every value of the floats (Walther's nonlinear interaction domains).  Branches count both sides;
piecewise-linear operations (max, abs, floor, sign) add nothing, their second derivative being zero almost
everywhere, as everywhere else in symgrad.
"""

import itertools

import sympy as sp

from .ir import Allocate, Assign, Loop, Store
from .rules import rule_for

EMPTY = frozenset()


class _Pattern:
    def __init__(self, program, name, values):
        self.wrt = program.argument(name).symbol
        self.size = next(len(v) for a, v in zip(program.arguments, values) if a.name == name)
        self.pairs = set()
        self.integers = {}  # integer symbol -> sympy Integer
        self.floats = {}  # float symbol -> frozenset of wrt elements
        self.arrays = {}  # local array label -> {index tuple: frozenset}
        for argument, value in zip(program.arguments, values):
            if argument.kind == "int":
                self.integers[argument.symbol] = sp.Integer(int(value))
            for k, size in enumerate(argument.shape):
                self.integers[size] = sp.Integer(value.shape[k])

    def integer(self, expr):
        value = sp.sympify(expr).xreplace(self.integers)
        if not value.is_Integer:
            raise ValueError(f"the Hessian's pattern needs {expr} as an integer before the floats are known")
        return int(value)

    def interact(self, *sets):
        """Every pair of elements taken from the union of `sets` (a smooth nonlinear function of them)."""
        elements = frozenset().union(*sets)
        self.pairs |= {(min(i, j), max(i, j)) for i, j in itertools.product(elements, elements)}

    def depends(self, expr):
        """The wrt elements `expr` depends on, adding the interactions its operations make."""
        if expr.is_Number or getattr(expr, "is_integer", False) and not isinstance(expr, sp.Indexed):
            return EMPTY
        if isinstance(expr, sp.Symbol):
            return self.floats.get(expr, EMPTY)
        if isinstance(expr, sp.Indexed):
            indices = tuple(self.integer(i) for i in expr.indices)
            if expr.base.label == self.wrt:  # (a read under a guard that never holds, x[i - 1] at i = 0, is
                return frozenset(indices[:1]) if 0 <= indices[0] < self.size else EMPTY  # outside: no dependence)
            return self.arrays.get(expr.base.label, {}).get(indices, EMPTY)
        if isinstance(expr, sp.Piecewise):  # conditions have no derivative; each side may be taken
            return frozenset().union(*(self.depends(value) for value, _ in expr.args))
        parts = [self.depends(a) for a in expr.args]
        if isinstance(expr, sp.Add):
            pass
        elif isinstance(expr, sp.Mul):
            for a, b in itertools.combinations(parts, 2):
                self.pairs |= {(min(i, j), max(i, j)) for i in a for j in b}
        elif isinstance(expr, sp.Pow) and expr.exp.is_number:
            if expr.exp not in (0, 1):
                self.interact(parts[0])
        else:
            rule = rule_for(type(expr))
            if rule is None or rule.smooth:
                self.interact(*parts)
            elif all(p == 0 for p in rule.partials(expr.args, expr)):
                return EMPTY  # floor, sign, Heaviside: locally constant
        return frozenset().union(*parts)

    def run(self, statements):
        for statement in statements:
            if isinstance(statement, Assign):
                self.bind(statement.target, statement.value)
            elif isinstance(statement, Allocate):
                self.arrays[statement.base.label] = {}
            elif isinstance(statement, Store):
                elements = self.arrays.setdefault(statement.base.label, {})
                index = tuple(self.integer(i) for i in statement.indices)
                value = self.depends(statement.value)
                elements[index] = value | elements.get(index, EMPTY) if statement.accumulate else value
            elif isinstance(statement, Loop):
                self.loop(statement)

    def bind(self, symbol, value):
        if symbol.is_integer:
            self.integers[symbol] = sp.Integer(self.integer(value))
        else:
            self.floats[symbol] = self.depends(value)

    def loop(self, loop):
        for c in loop.carried:
            self.bind(c.phi, c.initial)
        for index in range(self.integer(loop.start), self.integer(loop.stop), self.integer(loop.step)):
            self.integers[loop.index] = sp.Integer(index)
            self.run(loop.body)
            following = [(c.phi, c.next) for c in loop.carried]
            values = [(phi, sp.Integer(self.integer(e)) if phi.is_integer else self.depends(e)) for phi, e in following]
            for phi, value in values:
                (self.integers if phi.is_integer else self.floats)[phi] = value
        for c in loop.carried:
            (self.integers if c.phi.is_integer else self.floats)[c.result] = (
                self.integers if c.phi.is_integer else self.floats).get(c.phi, EMPTY)


def hessian_pattern(program, name, values):
    """The pairs (i, j), i <= j, of elements of 1-D array argument `name` whose second derivative of the program's
    output can be nonzero, for the arrays' shapes and integer arguments in `values`."""
    pattern = _Pattern(program, name, values)
    pattern.run(program.body)
    return pattern.pairs


def jacobian_pattern(program, name, values):
    """(rows, columns) of the Jacobian of a program returning a 1-D array (`Program.output_shape`) w.r.t. 1-D
    array argument `name`: the elements each output element depends on, at the given shapes and int arguments."""
    pattern = _Pattern(program, name, values)
    pattern.run(program.body)
    elements = pattern.arrays.get(program.outputs[0], {})
    entries = sorted((row, column) for (row,), columns in elements.items() for column in columns)
    return [row for row, _ in entries], [column for _, column in entries]
