"""Comprehensions and generator expressions, lowered to loops (a mixin of `Lifter`).

`sum(e for v in it)`, `sum([...])`, `np.sum([...])`, `math.fsum(...)`, `math.prod(...)`, `max(...)`/`min(...)`,
`any(...)`/`all(...)` of a comprehension become accumulator loops (`Lifter.reduce`), one per `for` clause, each
inside the one before, with the element lifted inside them, so no list is ever made; `np.array([...])` of a
comprehension becomes a local array written by one loop.  The iteration is a `for` loop's (`Lifter.iteration`): over
`range(...)` with a literal step, an array, `enumerate` and `zip`; over a tuple or list known when lifting it is
unrolled, and a list comprehension whose every `for` is unrolled is the list of its elements
(`np.concatenate([np.ravel(a) for layer in params for a in layer])`).  An `if` of the comprehension filters the
terms of a sum or a product (a filtered term adds 0, or multiplies by 1); a list whose length depends on a filter
has no size known at entry and is refused.
"""

import ast
import builtins
import contextlib
import functools
import math

import numpy as np
import sympy as sp

from .. import errors
from ..rules import Maximum, Minimum, numpy_extreme
from .numpy_lowering import ArrayList, ArrayValue, as_condition, as_number, trip_count

# The calls that reduce a comprehension given as their one argument, and how.
COMPREHENSION_REDUCTIONS = {id(builtins.sum): "sum", id(np.sum): "sum", id(math.fsum): "sum",
                            id(math.prod): "prod", id(np.prod): "prod",
                            id(builtins.max): "max", id(np.max): "np.max", id(np.amax): "np.max",
                            id(builtins.min): "min", id(np.min): "np.min", id(np.amin): "np.min",
                            id(builtins.any): "any", id(builtins.all): "all"}
# (Python's max keeps the first of the elements unless a later one beats it; NumPy's gives NaN where one is NaN)
COMBINE = {"sum": lambda a, b: a + b, "prod": lambda a, b: a * b, "max": Maximum, "min": Minimum,
           "np.max": lambda a, b: numpy_extreme(Maximum, a, b), "np.min": lambda a, b: numpy_extreme(Minimum, a, b)}
EXTREMES = ("max", "min", "np.max", "np.min")
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

    def clause_loop(self, node, j, inner):
        """`(trips, element, unrolled)` of the comprehension's j-th `for` clause: `element(k)` binds the clause's
        names to its k-th item (in the current block, for that element only) and returns `(inner(), condition)`,
        the condition of the clause's `if`s, or None when there are none.  Over a sequence known when lifting (see
        `static_items`), the clause is unrolled and k must be a literal."""
        clause = node.generators[j]
        if clause.is_async:
            raise self.error(errors.UnsupportedExpressionError, node, "an `async for` comprehension: use `for`")
        loop = ast.copy_location(ast.For(target=clause.target, iter=clause.iter, body=[], orelse=[]), node)
        items = self.static_items(clause)
        if items is not None:  # `for w in (w0, w1)`: k is a literal
            start, step = sp.Integer(0), sp.Integer(1)
            stop, bind = sp.Integer(len(items)), lambda k: self.bind(clause.target, items[int(k)], loop)
        else:
            start, stop, step, bind = self.iteration(loop)

        def element(k):
            with self.comprehension_names(clause):
                bind(start + step * k)
                conditions = [self.condition(test) for test in clause.ifs]
                condition = sp.And(*conditions) if conditions else None
                if condition is None or condition is sp.true:
                    return inner(), None
                if condition is sp.false:
                    return sp.Integer(0), sp.false
                with self.guarded(condition):
                    return inner(), condition

        return trip_count(start, stop, step), element, items is not None

    @contextlib.contextmanager
    def comprehension_names(self, clause):
        """The names a `for` clause binds, its own while the body runs (as in Python 3)."""
        names = {n.id for n in ast.walk(clause.target) if isinstance(n, ast.Name)}
        saved = {name: self.frame.variables.pop(name) for name in names if name in self.frame.variables}
        try:
            yield
        finally:
            for name in names:
                self.frame.variables.pop(name, None)
            self.frame.variables.update(saved)

    def static_items(self, clause):
        """The items of a `for` clause over a sequence known when lifting: a tuple or list written out, a list of
        arrays (`params = [(W1, b1), (W2, b2)]`) or a tuple bound to a name; None for another iterable."""
        if isinstance(clause.iter, (ast.Tuple, ast.List)):
            return [self.value(item) for item in clause.iter.elts]
        if isinstance(clause.iter, ast.Name):
            value = self.frame.variables.get(clause.iter.id)
            if isinstance(value, ArrayList) and value.rows is None:
                return list(value.parts)
            if isinstance(value, tuple):
                return list(value)
        return None

    def reduced_comprehension(self, kind, node, call):
        """`sum`/`max`/`min`/`any`/`all` of a comprehension as one accumulator loop per `for` clause, each inside
        the one before (the sum of the inner sums, the max of the inner maxima)."""
        last = len(node.generators) - 1

        def level(j):
            trips, element, unrolled = self.clause_loop(node, j, (lambda: self.value(node.elt)) if j == last
                                              else (lambda: level(j + 1)))

            def term(k):
                value, condition = element(k)
                if j == last:
                    value = self.number(as_number(value) if not self.is_array(value) else value, node.elt)
                    if kind in ("any", "all"):  # (counted without negating a condition: `not x > 0` is not
                        value = as_number(as_condition(value)) - (1 if kind == "all" else 0)  # `x <= 0` at NaN)
                if condition is not None:
                    if kind in EXTREMES:
                        raise self.error(errors.UnsupportedExpressionError, node,
                                         f"{ast.unparse(call.func)}() of a comprehension with an `if`: the filter "
                                         "decides which element comes first; write the loop: `best = -math.inf`, "
                                         "then `for i in range(n):` / `if <condition>: best = max(best, <element>)`")
                    value = self.select(condition, value, sp.Integer(1 if kind == "prod" else 0), node)
                return value

            combined = "sum" if kind in ("any", "all") else kind
            return self.reduced_terms(combined, trips, term, unrolled, call)

        if kind in ("any", "all"):  # any: some element is true; all: none is false (the count of false ones is 0)
            count = level(0)
            return as_number(sp.Gt(count, 0) if kind == "any" else sp.Eq(count, 0))
        return level(0)

    def reduced_terms(self, kind, trips, term, unrolled, call):
        """The sum, max or min of `term(k)` for k in range(trips), one term after another where `unrolled`."""
        if unrolled:
            terms = [term(sp.Integer(k)) for k in range(trips)]
            if not terms and kind != "sum":
                raise self.error(errors.UnsupportedExpressionError, call,
                                 f"{ast.unparse(call.func)}() of an empty sequence: Python raises ValueError there")
            return functools.reduce(COMBINE[kind], terms) if terms else sp.Integer(1 if kind == "prod" else 0)
        what = ast.unparse(call.args[0])
        if kind == "sum":
            return self.reduce("total", sp.Integer(0), trips, term, call)
        if kind == "prod":
            return self.reduce("product", sp.Integer(0), trips, term, call, COMBINE[kind], sp.Integer(1))
        advice = (f"{ast.unparse(call.func)}() of an empty sequence raises in Python: give it elements"
                  if len(call.args[0].generators) == 1 else  # (an inner `for` empty for some outer elements only)
                  "write the loops, `best = -math.inf`, then nested `for` loops with `best = max(best, <element>)`")
        self.runs_at_least_once(trips, f"takes {ast.unparse(call.func)}() of {what}", advice, call)
        return self.reduce("largest" if kind.endswith("max") else "smallest", sp.Integer(1), trips, term, call,
                           COMBINE[kind], term(sp.Integer(0)))

    def unrolled_elements(self, node):
        """The elements of a list comprehension whose every `for` runs over a sequence known when lifting (see
        `static_items`) and whose `if`s are decided when lifting, in Python's order; None where a `for` runs over
        another iterable.  A data-dependent `if` is refused: the list's length would depend on the data."""
        elements, last = [], len(node.generators) - 1

        def level(j):
            clause = node.generators[j]
            items = self.static_items(clause)
            if items is None:
                return False
            for item in items:
                with self.comprehension_names(clause):
                    self.bind(clause.target, item, node)
                    condition = sp.And(*[self.condition(test) for test in clause.ifs])
                    if condition not in (sp.true, sp.false):
                        raise self.error(errors.UnsupportedExpressionError, node,
                                         "a list comprehension whose `if` depends on the data: its length would "
                                         "too; keep every element and choose with `np.where(<condition>, "
                                         "<element>, 0.0)`")
                    if condition is sp.false:
                        continue
                    if j == last:
                        elements.append(self.value(node.elt))
                    elif not level(j + 1):
                        return False
            return True

        return elements if level(0) else None

    def comprehension_array(self, node):
        """`np.array([e for ...])`: a local array written element by element in one loop, or of the elements one
        by one where every `for` runs over a sequence known when lifting."""
        if len(node.generators) > 1:
            elements = self.unrolled_elements(node)
            if elements is None:
                raise self.error(errors.UnsupportedExpressionError, node,
                                 f"np.array() of a comprehension with {len(node.generators)} `for` clauses over "
                                 "ranges or arrays: write one `for` over range(n * m) with `i, j = k // m, k % m`, "
                                 "or loops writing into an array made with np.zeros")
            if any(self.is_array(e) for e in elements):
                raise self.refused_array_of_arrays(node)
            return self.array_of([self.number(e, node.elt) for e in elements], node)
        if node.generators[0].ifs:
            raise self.error(errors.UnsupportedExpressionError, node,
                             "np.array() of a comprehension with an `if`: its length depends on the data; keep every "
                             "element and choose with `np.where(<condition>, <element>, 0.0)`, or sum with "
                             "`sum(<element> for ... if <condition>)`")
        trips, element, unrolled = self.clause_loop(node, 0, lambda: self.value(node.elt))
        array = self.allocate(trips if trips.is_nonnegative else sp.Max(0, trips), node, self.name_hint)  # (an
        # empty range makes an empty array, as in Python)

        def store(indices):
            value, _ = element(indices[0])
            if self.is_array(value):
                raise self.refused_array_of_arrays(node)
            self.store(array, indices, self.number(as_number(value), node.elt), False, node)

        if unrolled:
            for k in range(trips):
                store((sp.Integer(k),))
        else:
            self.loop_nest((trips,), store, node)
        return ArrayValue(array.base, array.shape, True)

    def refused_array_of_arrays(self, node):
        return self.error(errors.UnsupportedExpressionError, node.elt,
                          "np.array() of a comprehension of arrays: join them with np.stack([...]) or "
                          "np.concatenate([...]) of the comprehension where its `for`s run over tuples or lists "
                          "written out, else np.stack of a list appended in a `for` loop (docs/language.md)")

    def listed_comprehension(self, node):
        """A list comprehension used as a list (np.concatenate([...]), np.stack([...]), a `for` over it): the list
        of its elements where it is unrolled (`unrolled_elements`), as a list written out is."""
        elements = self.unrolled_elements(node) if isinstance(node, ast.ListComp) else None
        if elements is not None and elements and all(
                self.is_array(e) or isinstance(e, tuple) and all(map(self.is_array, e)) for e in elements):
            return ArrayList(tuple(elements))
        if elements is not None and elements and not any(self.is_array(e) or isinstance(e, tuple) for e in elements):
            return self.array_of([self.number(e, node.elt) for e in elements], node)
        self.refused_comprehension(node)

    def refused_comprehension(self, node):
        """The refusal of a comprehension used where its size or its Python meaning (a list) would be lost."""
        what = "a list comprehension" if isinstance(node, ast.ListComp) else "a generator expression"
        raise self.error(errors.UnsupportedExpressionError, node,
                         f"{what} used as a value: symgrad takes one inside sum(), np.sum(), math.fsum(), max(), "
                         "min() or np.array() (`np.array([x[i] * x[i + 1] for i in range(n - 1)])`), and as a list "
                         "where its `for`s run over tuples or lists written out; wrap it in np.array(...) to use it "
                         "as an array")

