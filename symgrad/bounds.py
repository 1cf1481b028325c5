"""Bounds: no kernel reads or writes outside an array.

Numba does not check indices, so every array access of a kernel is, by one of these rules:

1. **proven at entry**: after the definitions of local ints are substituted (`j = i + 1` makes `x[j]` an
   `x[i + 1]`), the index and the loop bounds around it are affine in the loop indices, so its lowest and
   highest values are expressions in the int arguments and the array sizes.
   One condition, checked when the kernel starts, covers every iteration.  It is also necessary, not just
   sufficient, whenever its extremes are reached by iterations that run: then it fails only when some iteration
   would index outside the array, so failing it is Python's `IndexError`, raised before the loop rather than
   inside it.  Triangular loops (`for j in range(i)`) take the outer index's extremes in turn, over the outer
   iterations in which the inner loop runs, and a loop that runs for no outer iteration asks for nothing;
2. **checked before a loop**: the same over the inner loops only, when the extremes depend on outer loop
   indices, so the check runs once per outer iteration;
3. **checked where it happens**: a `Check` just before the statement (`x[i * i]`, `x[(5 * i) % 7]`, an index
   carried from one iteration to the next).

An index may lie in [-size, size): a negative one counts from the end once, as in Python (Numba wraps it the
same way).

Guards.  An access under a guard (the statement's branch condition, or a `Piecewise` branch inside its value)
happens in Python only when the guard holds.  Rule 1 proves it only when its condition is true for all
arguments or is already required by an unguarded access (the reverse sweep's `x_bar[i] += ...` under a ReLU
mirrors the forward `x[i]`).  Otherwise its check runs under the guard, and a statement guarded as a whole runs
inside `When(guard)`, so that `if i + 1 < n: s += x[i + 1]` never touches `x[n]`.  Such a read inside a
`Piecewise` is `fragile`: common-subexpression elimination must not hoist it out of its branch.

Overflow.  A derived condition (rules 1 and 2) computes extremes that the program itself may never compute,
such as `(n - 1) * m` for an int argument near 2**62; each carries a float64 bound on every intermediate value
(`magnitude`) and fails when that bound reaches `INT64_SAFE`, so that int64 arithmetic cannot wrap into a
condition that passes.
"""

import sympy as sp
from sympy.core.relational import Relational

from .ir import INT, Allocate, Assign, Check, Loop, Push, ReverseLoop, Store, Update, When, walk
from .rules import AsFloat, IntDiv, Maximum, Minimum, SliceBound, element_reads, python_not

INT64_SAFE = 2.0**62  # every intermediate of a derived condition must stay below this (int64 overflows at 2**63)


def magnitude(expr):
    """A float64 expression bounding the absolute value of every intermediate result of evaluating the integer
    expression `expr` (or each side of a condition) in int64; None for a node without such a bound."""
    if expr.is_Number:
        return sp.Float(abs(float(expr)))
    if expr.is_Symbol:
        return AsFloat(sp.Abs(expr))
    if isinstance(expr, (sp.Add, Maximum, Minimum, sp.Max, sp.Min, Relational, sp.And, sp.Or, sp.Not)):
        parts = [magnitude(a) for a in expr.args]
        return None if None in parts else sp.Add(*parts)
    if isinstance(expr, sp.Mul):
        parts = [magnitude(a) for a in expr.args]
        return None if None in parts else sp.Mul(*parts)
    if isinstance(expr, sp.Pow) and expr.exp.is_Integer and expr.exp > 0:
        base = magnitude(expr.base)
        return None if base is None else base**expr.exp
    if isinstance(expr, SliceBound):  # (its value; a check at the slice raises where it is not one NumPy reads)
        return magnitude(expr.args[0])
    if isinstance(expr, IntDiv):  # |a // b| <= |a| when b != 0
        parts = [magnitude(a) for a in expr.args]
        return None if None in parts else sp.Add(*parts)
    return None


def _affine_extreme(expr, index, low, high, upper):
    """The largest (or smallest) value of `expr` for `index` in [low, high]; None unless `expr` is affine in
    `index` (with a coefficient of unknown sign, such as an int argument in `x[i * m + j]`, the larger of the
    two ends)."""
    if index not in expr.free_symbols:
        return expr
    slope = expr.diff(index) if expr.is_polynomial(index) else None
    if slope is None or index in slope.free_symbols:
        return None
    if slope.is_nonnegative:
        return expr.xreplace({index: high if upper else low})
    if slope.is_nonpositive:
        return expr.xreplace({index: low if upper else high})
    return (sp.Max if upper else sp.Min)(expr.xreplace({index: low}), expr.xreplace({index: high}))


def _last(start, stop, step):
    """The last value of `range(start, stop, step)` (when it is not empty)."""
    if abs(step) == 1:
        return stop - step
    return start + IntDiv(stop - start - sp.sign(step), step) * step


def extremes(expr, loops):
    """`(lowest, highest)`: the extremes of `expr` over the iterations of `loops` (outermost first, each
    `(index, start, stop, step)`) in which the innermost loop runs; None when `expr` or a loop bound is not
    affine in the indices of the loops around it.

    An outer index's range is narrowed to the values for which an inner loop whose length is `±index + d` runs
    (`for j in range(i)` runs for i >= 1): the narrowed extremes are still reached, so the condition stays
    necessary."""
    low = high = expr
    spans = [stop - start if step > 0 else start - stop for _, start, stop, step in loops]
    indices = {loop[0] for loop in loops}
    for at in reversed(range(len(loops))):
        index, start, stop, step = loops[at]
        first, last = start, _last(start, stop, step)
        smallest, largest = (first, last) if step > 0 else (last, first)
        for span in spans[at + 1:]:  # only the iterations in which the loops inside run: `for j in range(i)`
            if span.free_symbols & indices == {index} and span.is_polynomial(index):
                slope = span.diff(index)
                if slope == 1:
                    smallest = sp.Max(smallest, 1 - (span - index))
                elif slope == -1:
                    largest = sp.Min(largest, span + index - 1)
        low = _affine_extreme(low, index, smallest, largest, upper=False)
        high = _affine_extreme(high, index, smallest, largest, upper=True)
        if low is None or high is None:
            return None
    return low, high


def running(loops):
    """Conditions that hold whenever the innermost of `loops` runs at all (some outer iteration gives each loop
    an iteration); None when a bound is not affine in the indices of the loops around it."""
    conditions = []
    for k, (index, start, stop, step) in enumerate(loops):
        widest = extremes(stop - start if step > 0 else start - stop, loops[:k])
        if widest is None:
            return None
        conditions.append(widest[1] > 0)
    return conditions


def _zero_unless(value):
    """A condition outside which `value` is exactly zero (an adjoint term under a branch's guard)."""
    if isinstance(value, sp.Piecewise):  # nonzero only on a branch with a nonzero value (nested: both guards)
        options, earlier = [], sp.true
        for branch, condition in value.args:
            if branch != 0:
                options.append(sp.And(earlier, condition, _zero_unless(branch)))
            earlier = sp.And(earlier, python_not(condition))
        return sp.Or(*options)
    if value.is_Mul:
        return sp.And(*(_zero_unless(a) for a in value.args))
    if value.is_Add:
        return sp.Or(*(_zero_unless(a) for a in value.args))
    return sp.true


class Bounds:
    """The bounds of a program's kernels (see `kernel`); what is derived is shared by them."""

    def __init__(self, program, owners):
        """`owners` names the arrays that are not arguments (the adjoint arrays) for the messages."""
        arguments = program.arguments
        self.program = program
        self.entry_symbols = {s for a in arguments for s in a.shape} | {a.symbol for a in arguments if a.kind == INT}
        self.owners = {a.symbol: f"argument {a.name!r}" for a in arguments if a.base is not None} | owners
        self.shown = {s: sp.Symbol(f"{a.name}.shape[{k}]") for a in arguments for k, s in enumerate(a.shape)}
        self.definitions = {}
        self.entry = {}
        self.fragile = set()
        self.pending = {}
        self.derived = {}
        self.line = None  # of the statement whose accesses are being placed, for the messages
        # No array argument and no local array: nothing to check, and nothing to walk (a big straight-line program
        # would spend seconds finding so)
        self.without_arrays = all(a.base is None for a in arguments) and not any(
            isinstance(s, Allocate) for s in walk(program.body))
        if not self.without_arrays:
            self.learn(program.body)
            self.rewrite(program.body)
        self.required = self.entry  # the program's unguarded accesses, dead code or not, as in Python

    def kernel(self, statements):
        """`(entry, statements, fragile)`: the conditions (with messages) a kernel checks when it starts, its
        statements with the checks and guards its other accesses need, and the reads CSE must leave in their
        branch."""
        if self.without_arrays:
            return list(self.required.items()), statements, set()
        self.learn(statements)
        self.entry, self.pending = dict(self.required), {}
        self.rewrite(statements)  # every unguarded access's entry condition, before the guarded ones ask
        self.pending, self.fragile = {}, set()
        rewritten = self.rewrite(statements)
        return list(self.entry.items()), rewritten, self.fragile

    def learn(self, statements):
        """Remember the definitions of local ints, which indices and sizes are written in terms of."""
        self.definitions.update({s.target: s.value for s in walk(statements)
                                 if isinstance(s, Assign) and s.target.is_integer})

    def resolved(self, expr):
        """`expr` in terms of loop indices, int arguments, sizes and the values carried by loops."""
        substituted = expr.xreplace(self.definitions)
        return expr if substituted == expr else self.resolved(substituted)

    # --- conditions --------------------------------------------------------------------------------------------
    def derived_condition(self, element, axis, upper, loops, available):
        """`(condition, message)` under which every index `element` reaches on `axis` over `loops` stays below
        the size (`upper`) or at or above minus the size, in terms of `available` symbols only, or None (rules 1
        and 2 of the module docstring)."""
        key = (element, axis, upper, tuple(loops), frozenset(available))
        if key not in self.derived:
            self.derived[key] = self._derive(element, axis, upper, loops, available)
        return self.derived[key]

    def _derive(self, element, axis, upper, loops, available):
        index, size = self.resolved(element.indices[axis]), self.resolved(element.base.shape[axis])
        loops = [tuple(self.resolved(b) for b in loop) for loop in loops]
        found = extremes(index, loops)
        if found is None:
            return None
        low, high = found
        gap = size - high - 1 if upper else low + size  # in range where it is not negative
        if gap.is_nonnegative:
            return sp.true, ""
        within = sp.Ge(gap, 0)
        runs = running(loops)
        if runs is None:
            return None
        condition = sp.Or(python_not(sp.And(*runs)), within)
        if condition is sp.true:
            return condition, ""
        if not condition.free_symbols <= available:
            return None
        bound = magnitude(condition)
        if bound is None:
            return None
        if bound.free_symbols:
            condition = sp.And(bound < INT64_SAFE, condition)
        overflow = " (or an int argument is too large for int64 index arithmetic)" if any(
            s.is_integer and s not in self.shown for s in condition.free_symbols) else ""
        return condition, (f"{self.where(element, axis)}, which reaches {self.show(high if upper else low)}, but "
                           f"the size is {self.show(size)}{overflow}")

    def show(self, expr):
        return str(expr.xreplace(self.shown).replace(_is_listed, _listed))

    def where(self, element, axis):
        label = element.base.label
        owner = self.owners.get(label, f"the local array {label.name!r}")
        line = f"line {self.line}" if self.line is not None else "the gradient"
        return (f"{self.program.name}(): {line} indexes {owner} with {self.show(element.indices[axis])} "
                f"along axis {axis}")

    # --- statements ----------------------------------------------------------------------------------------
    def rewrite(self, statements, loops=()):
        """`statements` with the checks their accesses need (see the module docstring)."""
        result = []
        for statement in statements:
            if isinstance(statement, (Loop, ReverseLoop)):
                loop = statement if isinstance(statement, Loop) else statement.loop
                bounds = (loop.index, loop.start, loop.stop, loop.step)
                self.line = loop.line
                before = self.checks([(e, g) for c in loop.carried for e, g in element_reads(c.initial)], loops)[0]
                body = self.rewrite(statement.body, loops + (bounds,))
                body += self.checks([(e, g) for c in loop.carried for e, g in element_reads(c.next)], loops + (bounds,))[0]
                result += before + list(self.pending.pop(bounds, {}).values())
                if isinstance(statement, Loop):
                    result.append(Loop(loop.index, loop.start, loop.stop, loop.step, body, loop.carried, loop.line))
                else:
                    result.append(ReverseLoop(loop, body, statement.unless_zero, statement.any_order))
            elif isinstance(statement, Allocate):
                self.line = statement.line
                negative = sp.Or(*(n < 0 for n in statement.shape))
                if self.resolved(negative) is not sp.false:
                    shape = ", ".join(str(n) for n in statement.shape)
                    result.append(Check(sp.Not(negative), f"{self.program.name}(): line {statement.line} makes the "
                                                           f"local array {statement.base.label.name!r} of negative "
                                                           f"size ({shape})"))
                result.append(statement)
            else:
                result += self.guarded(statement, loops)
        return result

    def guarded(self, statement, loops):
        """The statement behind the checks of its accesses, run under its guard when they need the guard."""
        self.line = getattr(statement, "line", None)
        guard, first, accesses = sp.true, [], []
        if isinstance(statement, Assign):
            guard, first, accesses = statement.guard, list(element_reads(statement.guard)), list(element_reads(statement.value))
        elif isinstance(statement, Store):
            guard = _zero_unless(statement.value) if statement.accumulate else sp.true
            accesses = list(element_reads(sp.Indexed(statement.base, *statement.indices))) + list(
                element_reads(statement.value))  # (the target, after what its indices read: `x_bar[idx[k]]`)
        elif isinstance(statement, (Update, Push)):
            accesses = list(element_reads(statement.value))
        before = self.checks(first, loops)[0]
        inside, guarded = self.checks(accesses, loops, guard)
        return before + ([When(guard, inside + [statement])] if guarded else inside + [statement])

    def checks(self, accesses, loops, under_guard=sp.true):
        """`(checks, guarded)`: the `Check`s the accesses need where they happen, and whether one of them is
        in range only under `under_guard`, so that the statement must run under it; the proofs at entry and
        before loops are recorded."""
        found, guarded = {}, False
        for element, path in accesses:
            if path is sp.false:
                continue
            guard = sp.And(under_guard, path)
            for axis in range(len(element.indices)):
                for upper in (True, False):
                    condition = self.placed(element, axis, upper, loops, guard is sp.true)
                    if condition is None:
                        continue
                    guarded = guarded or under_guard is not sp.true
                    if path is not sp.true:
                        self.fragile.add(element)
                    if _canonical(condition) in {_canonical(c) for c in sp.And.make_args(guard)}:
                        continue  # the guard is the check (`if i + 1 < n:`)
                    condition = sp.Or(python_not(path), condition)
                    found.setdefault(condition, Check(condition, self.where(element, axis) + ", outside its size "
                                                      f"{self.show(element.base.shape[axis])}"))
        return list(found.values()), guarded

    def placed(self, element, axis, upper, loops, unguarded):
        """Record the proof of one side of one access at entry or before a loop; else the condition to check
        where it happens."""
        entry = self.derived_condition(element, axis, upper, loops, self.entry_symbols)
        if entry is not None:
            condition, message = entry
            if condition is sp.true or condition in self.entry:
                return None
            if unguarded:
                self.entry[condition] = message
                return None
        elif unguarded:
            for k in range(1, len(loops)):
                available = self.entry_symbols | {loop[0] for loop in loops[:k]}
                hoisted = self.derived_condition(element, axis, upper, loops[k:], available)
                if hoisted is not None:
                    if hoisted[0] is not sp.true:
                        self.pending.setdefault(loops[k], {}).setdefault(hoisted[0], Check(*hoisted))
                    return None
        index, size = element.indices[axis], element.base.shape[axis]
        return index < size if upper else index >= -size


def _canonical(condition):
    """A relation in SymPy's canonical form (`i + 1 < n` and `n > i + 1` alike); any other condition as it is."""
    return condition.canonical if isinstance(condition, sp.core.relational.Relational) else condition


def _is_listed(expr):
    """Whether `expr` is an element of a list of indices (`A[:, [0, 2]]`): Piecewise((0, Eq(k, 0)), (2, True))."""
    return isinstance(expr, sp.Piecewise) and len(expr.args) > 1 and all(
        isinstance(c, sp.Eq) and c.rhs == k for k, (_, c) in enumerate(expr.args[:-1])) and expr.args[-1].cond is sp.true


def _listed(expr):
    """Such an element as the user wrote it, `[0, 2][k]`."""
    values = ", ".join(str(v) for v, _ in expr.args)
    return sp.Symbol(f"[{values}][{expr.args[0].cond.lhs}]")
