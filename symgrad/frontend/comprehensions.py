"""Comprehensions and generator expressions, lowered to loops (a mixin of `Lifter`).

`sum(e for v in it)`, `sum([...])`, `np.sum([...])`, `math.fsum(...)`, `max(...)`/`min(...)`, `any(...)`/`all(...)`
of a comprehension become one accumulator loop (`Lifter.reduce`) with the element lifted inside it, so no list is
ever made; `np.array([...])` of a comprehension becomes a local array written by one loop.  The iteration is a `for` loop's
(`Lifter.iteration`): over `range(...)` with a literal step, an array, `enumerate` and `zip`.  An `if` of the
comprehension filters the terms of a sum (a filtered term adds 0); a list whose length depends on a filter has
no size known at entry and is refused.
"""

import ast
import builtins
import functools
import math

import numpy as np
import sympy as sp

from .. import errors
from ..rules import Maximum, Minimum
from .numpy_lowering import ArrayValue, as_condition, as_number, trip_count

# The calls that reduce a comprehension given as their one argument, and how.
COMPREHENSION_REDUCTIONS = {id(builtins.sum): "sum", id(np.sum): "sum", id(math.fsum): "sum",
                            id(builtins.max): "max", id(np.max): "max", id(np.amax): "max",
                            id(builtins.min): "min", id(np.min): "min", id(np.amin): "min",
                            id(builtins.any): "any", id(builtins.all): "all"}
COMBINE = {"sum": lambda a, b: a + b, "max": Maximum, "min": Minimum}
COMPREHENSIONS = (ast.GeneratorExp, ast.ListComp)


class Comprehensions:
    """Lifts comprehensions in the places where their size is known before the kernel runs."""

    def comprehension_call(self, target, node):
        """A reduction or `np.array` of a comprehension; None where the call is not one."""
        if not node.args or not isinstance(node.args[0], COMPREHENSIONS):
            return None
        kind = COMPREHENSION_REDUCTIONS.get(id(target))
        if target is builtins.sum and len(node.args) == 2 and not node.keywords:  # sum(..., start)
            start = self.number(self.value(node.args[1]), node.args[1])
            return self.arithmetic(ast.Add(), start, self.reduced_comprehension(kind, node.args[0], node), node)
        if kind is not None and len(node.args) == 1 and not node.keywords:
            return self.reduced_comprehension(kind, node.args[0], node)
        if target in (np.array, np.asarray) and len(node.args) == 1 and isinstance(node.args[0], ast.ListComp):
            self.keyword_values(node, ("dtype",), ast.unparse(node.func))
            return self.comprehension_array(node.args[0])
        return None

    def comprehension_loop(self, node):
        """`(trips, element)` of a comprehension with one `for`: `element(k)` lifts the k-th element's value (with
        the `if` conditions, or None when there are none) into the current block, with the comprehension's names
        bound for that element only.  Over a tuple or list written out, k must be a literal (see `unrolled`)."""
        if len(node.generators) != 1 or node.generators[0].is_async:
            raise self.error(errors.UnsupportedExpressionError, node,
                             f"a comprehension with {len(node.generators)} `for` clauses: write nested `for` loops "
                             "that add into a variable")
        clause = node.generators[0]
        loop = ast.copy_location(ast.For(target=clause.target, iter=clause.iter, body=[], orelse=[]), node)
        if isinstance(clause.iter, (ast.Tuple, ast.List)):  # `for w in (w0, w1)`: k is a literal (`unrolled`)
            items = [self.value(item) for item in clause.iter.elts]
            start, step = sp.Integer(0), sp.Integer(1)
            stop, bind = sp.Integer(len(items)), lambda k: self.bind(clause.target, items[int(k)], loop)
        else:
            start, stop, step, bind = self.iteration(loop)
        names = {n.id for n in ast.walk(clause.target) if isinstance(n, ast.Name)}

        def element(k):
            saved = {name: self.frame.variables[name] for name in names if name in self.frame.variables}
            try:
                bind(start + step * k)
                conditions = [self.condition(test) for test in clause.ifs]
                condition = sp.And(*conditions) if conditions else None
                if condition is None or condition is sp.true:
                    return self.value(node.elt), None
                if condition is sp.false:
                    return sp.Integer(0), sp.false
                with self.guarded(condition):
                    return self.value(node.elt), condition
            finally:  # (the names of a comprehension are its own, as in Python 3)
                for name in names:
                    self.frame.variables.pop(name, None)
                self.frame.variables.update(saved)

        return trip_count(start, stop, step), element

    def reduced_comprehension(self, kind, node, call):
        """`sum`/`max`/`min` of a comprehension as one accumulator loop."""
        trips, element = self.comprehension_loop(node)

        def term(k):
            value, condition = element(k)
            value = self.number(as_number(value) if not self.is_array(value) else value, node.elt)
            if kind in ("any", "all"):  # (counted without negating a condition: `not x > 0` is not `x <= 0` at NaN)
                value = as_number(as_condition(value)) - (1 if kind == "all" else 0)
            if condition is not None:
                if kind in ("max", "min"):
                    raise self.error(errors.UnsupportedExpressionError, node,
                                     f"{ast.unparse(call.func)}() of a comprehension with an `if`: the filter decides "
                                     "which element comes first; write the loop: `best = -math.inf`, then `for i in "
                                     "range(n):` / `if <condition>: best = max(best, <element>)`")
                value = self.select(condition, value, sp.Integer(0), node)
            return value

        if kind in ("any", "all"):  # any: some element is true; all: none is false (the count of false ones is 0)
            count = self.reduced_terms("sum", trips, term, node, call)
            return as_number(sp.Gt(count, 0) if kind == "any" else sp.Eq(count, 0))
        return self.reduced_terms(kind, trips, term, node, call)

    def reduced_terms(self, kind, trips, term, node, call):
        """The sum, max or min of `term(k)` for k in range(trips), unrolled where the comprehension is."""
        if unrolled(node):
            terms = [term(sp.Integer(k)) for k in range(trips)]
            if not terms and kind != "sum":
                raise self.error(errors.UnsupportedExpressionError, call,
                                 f"{ast.unparse(call.func)}() of an empty sequence: Python raises ValueError there")
            return functools.reduce(COMBINE[kind], terms) if terms else sp.Integer(0)
        if kind == "sum":
            return self.reduce("total", sp.Integer(0), trips, term, call)
        self.runs_at_least_once(trips, f"takes {ast.unparse(call.func)}() of {ast.unparse(node)}",
                                f"{ast.unparse(call.func)}() of an empty sequence raises in Python: give it "
                                "elements", call)
        return self.reduce("largest" if kind == "max" else "smallest", sp.Integer(1), trips, term, call,
                           COMBINE[kind], term(sp.Integer(0)))

    def comprehension_array(self, node):
        """`np.array([e for ...])`: a local array written element by element in one loop."""
        if node.generators[0].ifs:
            raise self.error(errors.UnsupportedExpressionError, node,
                             "np.array() of a comprehension with an `if`: its length depends on the data; keep every "
                             "element and choose with `np.where(<condition>, <element>, 0.0)`, or sum with "
                             "`sum(<element> for ... if <condition>)`")
        trips, element = self.comprehension_loop(node)
        array = self.allocate(trips if trips.is_nonnegative else sp.Max(0, trips), node, self.name_hint)  # (an
        # empty range makes an empty array, as in Python)

        def store(indices):
            value, _ = element(indices[0])
            if self.is_array(value):
                raise self.error(errors.UnsupportedExpressionError, node.elt,
                                 "np.array() of a comprehension of arrays: make the rows with np.stack of a list "
                                 "appended in a `for` loop (docs/language.md)")
            self.store(array, indices, self.number(as_number(value), node.elt), False, node)

        if unrolled(node):
            for k in range(trips):
                store((sp.Integer(k),))
        else:
            self.loop_nest((trips,), store, node)
        return ArrayValue(array.base, array.shape, True)

    def refused_comprehension(self, node):
        """The refusal of a comprehension used where its size or its Python meaning (a list) would be lost."""
        what = "a list comprehension" if isinstance(node, ast.ListComp) else "a generator expression"
        raise self.error(errors.UnsupportedExpressionError, node,
                         f"{what} used as a value: symgrad takes one inside sum(), np.sum(), math.fsum(), max(), "
                         "min() or np.array() (`np.array([x[i] * x[i + 1] for i in range(n - 1)])`); wrap it in "
                         "np.array(...) to use it as an array")



def unrolled(node):
    """Whether a comprehension runs over a tuple or list written out: its elements are lifted one by one."""
    return isinstance(node.generators[0].iter, (ast.Tuple, ast.List))
