"""Reverse mode: from a `Program` to a `Derivative` holding the adjoint statements.

Walk the statements backwards; for each ``v = e(s1..sk)`` add ``v_bar * de/ds_i`` to the adjoint of every
active ``s_i``.  The local partial ``de/ds_i`` comes from the rules table applied to ``e`` alone, one small
right-hand side at a time, and the rules may use ``v`` itself (``tanh' = 1 - v**2``), so the adjoint program is
linear in the size of the forward program: no expression swell.

Loops are reversed as loops.  The reverse sweep runs the iterations last first; each iteration recomputes its
body's values from what the iteration started with, then walks the body backwards.  A carried value that the
body only adds to (a reduction, ``s += ...``) needs nothing stored; any other carried value is recorded on a
tape at the start of every iteration (memory O(steps x carried values)), as is every read of a local array
inside a loop and every result of a loop nested in another.  Adjoints of values from outside a loop are summed
in accumulators across the iterations; adjoints of array elements go straight into adjoint arrays.
"""

import dataclasses
import functools
from collections import defaultdict

import sympy as sp
from sympy.core.sympify import _sympify

from . import passes
from .ir import (Allocate, Assign, Derivative, Loop, Pop, Program, Push, ReverseLoop, Store, Update, When,
                 expressions, overwritten_first, rebuilt, walk)
from .rules import IntDiv, integer_valued, locally_constant, output_slope, rule_for


_CANONICAL_ORDER = functools.cmp_to_key(sp.Basic.compare)  # the order of a product's factors after its number


def _finite_nonzero(number):
    if number.is_Rational:
        return number.p != 0
    return isinstance(number, sp.Float) and bool(number._mpf_[1])


def times(*operands):
    """``sympy.Mul(*operands)``, the same expression, built without SymPy's general product where its outcome is
    known: numbers times factors that cannot join one another.

    SymPy's `Mul` asks the assumptions of every new coefficient and factor (a new Float's first question costs
    about 0.1 ms), and multiplies ``exp(u)`` as the power ``E**u``, building it anew (about 1.5 ms a product):
    most of reverse mode's time.  Here, when every factor is a finite nonzero number, a symbol, an array element
    or a function application (or a power of one of these), no two on the same base, the product is the numbers
    multiplied in SymPy's order, then the factors sorted in SymPy's canonical order; a float times a sum is
    distributed over its terms, as SymPy does.  Anything else is left to SymPy."""
    operands = [_sympify(o) for o in operands]
    operands = [o for o in operands if o is not sp.S.One]
    if len(operands) < 2:
        return operands[0] if operands else sp.S.One
    if len(operands) == 2:
        number, other = operands if operands[0].is_Number else operands[::-1]
        if isinstance(number, sp.Float) and other.is_Add and _finite_nonzero(number):
            return plus(*[number * f if f.is_Number else times(number, f) for f in other.args])
    coefficient, bases, factors = sp.S.One, set(), []
    queue = list(operands)
    for o in queue:  # (in the order of `Mul.flatten`, so that floats are multiplied in the same order)
        if o.is_Mul:
            queue.extend(o.args)
            continue
        if o.is_Number:
            if not _finite_nonzero(o):
                return sp.Mul(*operands)
            coefficient *= o
            continue
        base = o.base if o.is_Pow else sp.S.Exp1 if isinstance(o, sp.exp) else o
        if not (_plain(base) and o.is_commutative) or base in bases:
            return sp.Mul(*operands)
        bases.add(base)
        factors.append(o)
    if not _finite_nonzero(coefficient):
        return sp.Mul(*operands)
    factors.sort(key=_CANONICAL_ORDER)
    if coefficient is not sp.S.One:
        factors.insert(0, coefficient)
    if len(factors) == 1:
        return factors[0]
    return sp.Mul._exec_constructor_postprocessors(sp.Mul._from_args(factors, True))


def plus(*operands):
    """``sympy.Add(*operands)``, the same expression, built without SymPy's general sum where its outcome is
    known: finite numbers and terms that do not combine (no two with the same part beside their number).

    The numbers are added in the order of `Add.flatten`, and the terms, each kept as it is (SymPy rebuilds each
    as an equal one), are sorted in SymPy's canonical order after the number; anything else is left to SymPy."""
    operands = [_sympify(o) for o in operands]
    operands = [o for o in operands if o is not sp.S.Zero]
    if len(operands) < 2:
        return operands[0] if operands else sp.S.Zero
    coefficient, terms = sp.S.Zero, {}
    queue = list(operands)
    for o in queue:  # (in the order of `Add.flatten`, so that floats are added in the same order)
        if o.is_Add:
            queue.extend(o.args)
            continue
        if o.is_Number:
            if not (o.is_Rational or _finite_nonzero(o) or o == 0 and isinstance(o, sp.Float)):
                return sp.Add(*operands)
            coefficient += o
            continue
        if o.is_Mul:
            number, rest = o.as_coeff_Mul()
            if not _finite_nonzero(number):
                return sp.Add(*operands)
        elif o.is_Pow and not o.base.is_Number and _plain(o.base) or _plain(o) and not o.is_Number:
            rest = o
        else:
            return sp.Add(*operands)
        if not o.is_commutative or rest in terms:
            return sp.Add(*operands)
        terms[rest] = o
    if not (coefficient.is_Rational or isinstance(coefficient, sp.Float) and not coefficient._mpf_[1] == 0
            or coefficient == 0):
        return sp.Add(*operands)
    ordered = sorted(terms.values(), key=_CANONICAL_ORDER)
    if coefficient is not sp.S.Zero:
        ordered.insert(0, coefficient)
    if len(ordered) == 1:
        return ordered[0]
    return sp.Add._exec_constructor_postprocessors(sp.Add._from_args(ordered, True))


def _plain(base):
    """Whether a factor on this base is kept as it is by SymPy's product (unless another has the same base)."""
    return base is sp.S.Exp1 or base.is_Symbol or isinstance(base, (sp.Indexed, sp.Function))


def local_partial(expr, atom, out=None, present=False):
    """d expr / d atom by the rules table; `out`, when given, is a symbol holding expr's value; `present`: the
    caller has found `atom` in `expr` already (each level would otherwise walk its subtree once more)."""
    if expr == atom:
        return sp.Integer(1)
    if not present and not expr.has(atom):
        return sp.Integer(0)
    if isinstance(expr, sp.Piecewise):  # conditions change only on a set of measure zero
        return sp.Piecewise(*[(local_partial(value, atom), condition) for value, condition in expr.args])
    if isinstance(expr, sp.Indexed):  # (another element, read at an index that holds `atom`: an index, constant)
        return sp.Integer(0)
    rule = rule_for(type(expr))
    if rule is None:
        raise NotImplementedError(f"symgrad has no derivative rule for {type(expr).__name__}")
    partials = rule.partials(expr.args, expr if out is None else out)
    terms = []
    for p, arg in zip(partials, expr.args):
        if arg.has(atom):
            inner = local_partial(arg, atom, present=True)
            # p * 1 and 1 * inner are p and inner: skip SymPy's multiplication, the most of reverse mode's time
            one = p is sp.S.One or type(p) is int and p == 1
            terms.append(inner if one else p if inner is sp.S.One and isinstance(p, sp.Basic) else times(p, inner))
    return plus(*terms)


SIMPLIFY_LIMIT = 40  # operations below which an expression is worth rational simplification


def simplest_rational(expr):
    """The shortest of `expr` and its rational simplifications.  Only rational ones: sympy.simplify's
    trigonometric passes take seconds on tanh and friends."""
    if sp.count_ops(expr) > SIMPLIFY_LIMIT or expr.has(sp.Piecewise):
        return expr
    return min([expr, sp.factor_terms(expr), sp.factor_terms(sp.cancel(expr))], key=sp.count_ops)


def tree_size(expr, sizes):
    """The number of nodes of `expr` with every symbol in `sizes` inlined (a symbol counts as its size)."""
    return sum(sizes.get(node, 1) if node.is_Symbol else 1 for node in sp.preorder_traversal(expr))


def closed_form_gradients(derivative):
    """For straight-line code, one assignment per gradient: its closed form, simplified and written over the
    forward values, or None when the code has loops or a closed form is large.

    This is the algebra a hand-written gradient does: for a tanh neuron under cross entropy, the 1/p of the
    log and the 1 - tanh**2 of the activation cancel to ``tanh(z) + 1 - 2*y``.  Codegen keeps it when it is
    cheaper than the adjoint statements.  Pass `closed_form`; precondition, checked here: only assignments
    without branches (inlining into a Piecewise would evaluate a branch's values where its condition fails), and
    every closed form small; simplification is rational only, so the result is the same function."""
    statements = derivative.forward + derivative.adjoint
    if not all(isinstance(g, sp.Symbol) for g in derivative.gradients):
        return None
    inlined, sizes = {}, {}
    for statement in statements:  # sizes first: inlining a long chain would build an exponential tree
        if not isinstance(statement, Assign) or statement.value.has(sp.Piecewise):
            return None  # (inlining into a Piecewise makes SymPy reason about its conditions: slow)
        sizes[statement.target] = tree_size(statement.value, sizes)
        if sizes[statement.target] > 4 * SIMPLIFY_LIMIT:
            return None
        inlined[statement.target] = statement.value.xreplace(inlined)
    forward = sorted(((inlined[s.target], s.target) for s in derivative.forward if not s.value.is_Atom),
                     key=lambda pair: -sp.count_ops(pair[0]))
    result = []
    for gradient in derivative.gradients:
        closed = inlined.get(gradient, gradient)
        if sp.count_ops(closed) > SIMPLIFY_LIMIT:
            return None
        simple = simplest_rational(closed)
        for value, symbol in forward:
            simple = simple.xreplace({value: symbol})
        result.append(Assign(gradient, simple))
    return result


def unique_symbol(used_names, name):
    """A real symbol called `name`, numbered when that is taken; its name is then taken too."""
    candidate, k = name, 0
    while candidate in used_names:
        k += 1
        candidate = f"{name}{k}"
    used_names.add(candidate)
    return sp.Symbol(candidate, real=True)


def differentiable_atoms(expr):
    """The float symbols and array elements an expression reads (not integers, not array labels)."""
    elements = expr.atoms(sp.Indexed)
    labels = {e.base.label for e in elements}
    symbols = {s for s in expr.free_symbols if isinstance(s, sp.Symbol) and not s.is_integer and s not in labels}
    return symbols | elements


def carrying_atoms(expr):
    """The differentiable atoms of `expr` through which its partial can be nonzero: not those read only by a
    condition (of a `Piecewise`: a comparison) or by a locally constant function (`rules.locally_constant`: the
    index AsIndex makes of np.argmax's position, sign, floor, isnan), whose partials `local_partial` takes as 0."""
    atoms, pending = set(), [expr]
    while pending:  # (a loop, not recursion: a value may nest deeper than Python's recursion limit)
        node = pending.pop()
        if isinstance(node, sp.Piecewise):
            pending += [value for value, _ in node.args]
        elif isinstance(node, sp.Indexed):
            atoms.add(node)
        elif node.is_Symbol:
            if not node.is_integer:
                atoms.add(node)
        elif node.is_Atom or locally_constant(type(node)):
            continue
        elif rule_for(type(node)) is None:  # (no partials to read: every atom, as `differentiable_atoms` gives them)
            atoms |= differentiable_atoms(node)
        else:
            pending += node.args
    return atoms


def _key(atom):
    """What activity is tracked on: a symbol, or the label of the array an element belongs to."""
    return atom.base.label if isinstance(atom, sp.Indexed) else atom


class _Scope:
    """The reverse sweep of one block: adjoint contributions pending for the symbols the block defines, and
    accumulators for symbols defined outside it (the block is a loop body, run many times)."""

    def __init__(self, reverser, parent, defined):
        self.reverser = reverser
        self.parent = parent
        self.defined = defined
        self.contributions = defaultdict(list)
        self.accumulators = {}
        self.out = []

    def contribute(self, atom, term):
        if isinstance(atom, sp.Indexed):
            self.out.append(Store(self.reverser.adjoint_array(atom.base), atom.indices, term, accumulate=True))
        elif self.parent is None or atom in self.defined:
            self.contributions[atom].append(term)
        else:
            if atom not in self.accumulators:
                self.accumulators[atom] = self.reverser.fresh(f"{atom.name}_bar_sum")
            self.out.append(Update(self.accumulators[atom], term, accumulate=True))

    def total(self, symbol):
        """The adjoint of `symbol`, complete once every later statement of the block has been walked."""
        value = plus(*self.contributions.pop(symbol, []))
        if value.is_Atom:
            return value
        bar = self.reverser.fresh(f"{symbol.name}_bar")
        self.out.append(Assign(bar, value))
        self.reverser.adjoint_of.setdefault(symbol, bar)
        return bar


def name_sums(statements, fresh):
    """Give a name of its own to every sum inside a power or a function (`t = y - x**2` in `(y - x**2)**2`).

    The partials then read `200*t` where SymPy would otherwise distribute `200*(y - x**2)` into terms that
    no later pass can share with the forward value (in forward mode, the tangent reads `2*t` and not
    `2*y - 2*x**2`, computed again).  Pass `name_sums`; precondition: none (a new SSA name for a value the
    statement computes anyway)."""
    named = []
    for statement in statements:
        if isinstance(statement, Assign):
            replacements = {}
            # A read inside a branch stays there: named, it would be evaluated on every path (see bounds).
            branch_reads = {e for p in statement.value.atoms(sp.Piecewise) for e in p.atoms(sp.Indexed)}
            for node in sp.postorder_traversal(statement.value):
                if isinstance(node, (sp.Pow, sp.Function)) and not isinstance(node, sp.Piecewise):
                    for argument in node.args:
                        if (isinstance(argument, sp.Add) and argument not in replacements
                                and not integer_valued(argument)
                                and not (branch_reads and argument.atoms(sp.Indexed) & branch_reads)):
                            value = argument.xreplace(replacements)
                            replacements[argument] = fresh(f"{statement.target.name}_part")
                            named.append(Assign(replacements[argument], value, statement.guard, statement.line))
            if replacements:
                statement = Assign(statement.target, statement.value.xreplace(replacements), statement.guard,
                                   statement.line, statement.taped, statement.probe)
        elif isinstance(statement, Loop):
            statement = Loop(statement.index, statement.start, statement.stop, statement.step,
                             name_sums(statement.body, fresh), statement.carried, statement.line)
        named.append(statement)
    return named


def fuse_sibling_loops(statements):
    """One loop for loops in a row over the same range whose iterations do not depend on each other's: the two
    sums of a loss (`np.sum(t * np.log(p)) + np.sum((1 - t) * np.log(1 - p))`, each lowered to a loop of its own)
    then read the data once, and what both recompute of a shared array expression (`p = sigmoid(X @ w)`) is
    computed once per element.

    Pass `fuse_sibling_loops`; precondition, checked here: the loops have the same start, stop and step; neither
    stores into an array the other reads or stores, and neither makes (`Allocate`) an array the other reads; the
    later loop reads no value the earlier one carries out.  A plain assignment between the two that reads nothing
    the earlier loop makes moves above it.  The body of the fused loop is the earlier body, then the later one
    with its index renamed, so each iteration computes what the two iterations of the same index did."""
    fused = []
    pending = []  # assignments met after a loop that may still move above it
    for statement in statements:
        if isinstance(statement, Loop):
            statement = Loop(statement.index, statement.start, statement.stop, statement.step,
                             fuse_sibling_loops(statement.body), statement.carried, statement.line)
            earlier = fused[-1] if fused and isinstance(fused[-1], Loop) else None
            if earlier is not None and _independent_siblings(earlier, statement):
                renamed = _substituted(statement, {statement.index: earlier.index})
                body, same = _without_repeats(earlier.body, renamed.body)
                carried = [_substituted(c, same) for c in renamed.carried]
                fused[-1] = Loop(earlier.index, earlier.start, earlier.stop, earlier.step,
                                 earlier.body + body, earlier.carried + carried, earlier.line)
                fused[-1:-1] = pending
                pending = []
                continue
        elif (isinstance(statement, Assign) and fused and isinstance(fused[-1], Loop)
              and not _reads_made_by(statement, fused[-1])):
            pending.append(statement)
            continue
        fused += pending + [statement]
        pending = []
    return fused + pending


def _without_repeats(first, second):
    """`second` without the assignments and the store-free loops that compute what one of `first` computes (both
    halves of a fused loop recompute `p = sigmoid(X @ w)`), and the map from each dropped symbol to the one
    kept.  Equal expressions have equal values here: the two halves are independent (`_independent_siblings`),
    so whatever array an expression of either half reads, neither half stores into."""
    known = {(s.value, s.guard): s.target for s in first if isinstance(s, Assign)}
    loops = [s for s in first if isinstance(s, Loop) and _store_free(s)]
    same, kept = {}, []
    for statement in second:
        statement = _substituted(statement, same) if same else statement
        if isinstance(statement, Assign) and (statement.value, statement.guard) in known:
            same[statement.target] = known[(statement.value, statement.guard)]
            continue
        if isinstance(statement, Loop) and _store_free(statement):
            twin = next((loop for loop in loops if _renaming(statement, loop) is not None), None)
            if twin is not None:
                same.update({c.result: t.result for c, t in zip(statement.carried, twin.carried)})
                continue
        kept.append(statement)
    return kept, same


def _store_free(loop):
    return not any(isinstance(s, (Store, Allocate, Loop)) for s in loop.body)


def _renaming(loop, twin):
    """The map from `loop`'s own symbols to `twin`'s when the two are the same loop but for those names (one level
    of assignments, no nested loops), else None."""
    if (len(loop.body) != len(twin.body) or len(loop.carried) != len(twin.carried)
            or not all(isinstance(s, Assign) for s in loop.body + twin.body)):
        return None
    names = {loop.index: twin.index}
    names.update({c.phi: t.phi for c, t in zip(loop.carried, twin.carried)})
    names.update({c.result: t.result for c, t in zip(loop.carried, twin.carried)})
    names.update({s.target: t.target for s, t in zip(loop.body, twin.body)})
    renamed = _substituted(loop, names)
    same = ((renamed.start, renamed.stop, renamed.step) == (twin.start, twin.stop, twin.step)
            and [(s.target, s.value, s.guard) for s in renamed.body] == [(s.target, s.value, s.guard)
                                                                        for s in twin.body]
            and [(c.phi, c.initial, c.next) for c in renamed.carried] == [(c.phi, c.initial, c.next)
                                                                         for c in twin.carried])
    return names if same else None


def _independent_siblings(earlier, later):
    """Whether `later` can run interleaved with `earlier`, iteration by iteration (`fuse_sibling_loops`)."""
    if (earlier.start, earlier.stop, earlier.step) != (later.start, later.stop, later.step):
        return False
    if {c.result for c in earlier.carried} & _symbols_used(later):
        return False
    for first, second in ((earlier, later), (later, earlier)):
        if _labels_made(first.body) & _labels_touched(second.body):
            return False
    return True


def _labels_touched(statements):
    """The array labels `statements` read, store into or make."""
    return _labels_made(statements).union(*map(_labels_read, walk(statements)))


def _reads_made_by(statement, loop):
    """Whether `statement` reads a value `loop` carries out or an array it writes."""
    return bool({c.result for c in loop.carried} & _symbols_used(statement)
                or _labels_made(loop.body) & _labels_read(statement))


def _labels_made(statements):
    """The array labels `statements` store into or make."""
    return {s.base.label for s in walk(statements) if isinstance(s, (Store, Allocate))}


def _substituted(value, mapping):
    """`value` (a statement, a list of them, or an expression) with the symbols of `mapping` replaced."""
    return rebuilt(value, lambda part: part.xreplace(mapping) if isinstance(part, sp.Basic) else None)


def fuse_row_layers(statements, outputs, shape_checks=()):
    """One loop over the rows for the layers of a vectorised network: loops in a row over the same range, each
    writing a local array of rows (`h = np.tanh(X @ W + b)`, n x hidden) that later ones read at the same row,
    run as one loop, and each such array made in it as one row (a vector of the hidden size).  The kernels then
    make one pass over the data with per-row scratch vectors, as a hand-written loop does, instead of writing and
    rereading an n x hidden array per layer (and per adjoint), and codegen runs each row's reverse sweep right
    after it (`hoist_allocations`, then `per_row_fusion`).

    Pass `fuse_row_layers`; precondition, checked here. A *row array* is made by an `Allocate` outside every loop,
    nothing outside the loops (nor `outputs`) names it, and its every read and store is inside a loop outside every
    other loop, over ``range(0, size of its first axis)`` step 1, at that loop's index as its first index: so
    iteration i touches only row i, and each row starts as zeros. Sizes are compared as the `shape_checks` the
    kernels test at entry make them equal (`y.shape[0] == X.shape[0]`). A loop joins the loops before it when it has
    the same start, stop and step, touches a row array one of them touches, reads and defines no symbol they define,
    and of every other array, neither it nor they make (store into or allocate) one the other touches; a plain
    assignment between them that reads nothing they make moves above them, and an `Allocate` of a row array moves
    into the fused body, before the part of the loop that follows it. The fused iteration i then runs iteration i of
    each loop in order: the accesses to row i of a row array are the same, in the same order, and nothing else
    passes between the loops. Each row array the run makes and no other statement touches is made per iteration with
    its first axis dropped (fresh zeros, as row i was); a run in which two loops touch a row array that stays whole
    (read after the run, or one-dimensional) is left as it was, since the fused loop would both store and read it
    and reverse mode would then undo its stores, and so is a run that stores a named activation's output into an
    array it would make per row (`a = max(z, 0.0)`, then `h[i, j] = a`): `write_once_arrays` lets the sweep read
    that output back from the whole array, while a row, rewritten every iteration, would need it taped."""
    same = _equal_sizes(shape_checks)
    rows = _row_arrays(statements, outputs, same)
    fused, run = [], []  # run: the loops of the pending group and what lies between and after them
    for statement in statements + [None]:
        loops = [s for s in run if isinstance(s, Loop)]
        joins = isinstance(statement, Loop) and (not loops or _row_siblings(loops, statement, rows, same))
        moves = isinstance(statement, Assign) and loops and not any(_reads_made_by(statement, loop) for loop in loops)
        if isinstance(statement, Allocate) and statement.base.label in rows or joins or moves:
            run.append(statement)
            continue
        last = max(k for k, s in enumerate(run) if isinstance(s, Loop)) if loops else -1
        fused += _fused_rows(run[:last + 1], rows, statements)
        if isinstance(statement, Loop):  # (what follows the group's last loop comes before this one's run)
            run = run[last + 1:] + [statement]
        else:
            fused += run[last + 1:] + ([statement] if statement is not None else [])
            run = []
    return fused


def _equal_sizes(shape_checks):
    """The map from each size symbol to one that `shape_checks` (tested at kernel entry) make it equal to."""
    same = {}
    for condition, _ in shape_checks:
        if isinstance(condition, sp.Eq) and all(isinstance(side, sp.Symbol) for side in condition.args):
            a, b = sorted((side.xreplace(same) for side in condition.args), key=str)
            if a != b:
                same = {key: a if value == b else value for key, value in same.items()}
                same[b] = a
    return same


def _size(size, same):
    return sp.sympify(size).xreplace(same)


def _row_arrays(statements, outputs, same):
    """The labels of the row arrays of `statements` (see `fuse_row_layers`) -> their `Allocate`; sizes are
    compared through `same` (`_equal_sizes`)."""
    made = {s.base.label: s for s in statements if isinstance(s, Allocate) and len(s.shape) >= 1}
    named = set().union(*(sp.sympify(o).free_symbols for o in outputs))
    rows = {label: allocate for label, allocate in made.items() if label not in named}
    for statement in statements:
        if isinstance(statement, Loop):
            top = statement if statement.start == 0 and statement.step == 1 else None
            for label, accesses in _array_accesses(statement).items():
                if label in rows and (top is None or _size(rows[label].shape[0], same) != _size(top.stop, same)
                                      or any(not indices or indices[0] != top.index for indices in accesses)):
                    del rows[label]
        elif not isinstance(statement, Allocate):
            for label in _array_accesses(statement):
                rows.pop(label, None)
    for label in [label for label in rows if any(s.base.label == label for s in walk(
            [s for s in statements if isinstance(s, Loop)]) if isinstance(s, Allocate))]:
        del rows[label]  # (also made inside a loop: not one array of rows)
    return rows


def _array_accesses(statement):
    """Each array label `statement` reads or stores into (looking inside loops) -> the index tuples it uses."""
    accesses = defaultdict(list)
    for s in walk([statement]):
        if isinstance(s, Store):
            accesses[s.base.label].append(tuple(s.indices))
    for expression in expressions(walk([statement])):
        for element in sp.sympify(expression).atoms(sp.Indexed):
            accesses[element.base.label].append(tuple(element.indices))
    return accesses


def _row_siblings(loops, later, rows, same):
    """Whether `later` can run interleaved, iteration by iteration, with the loops of a run (`fuse_row_layers`)."""
    first = loops[0]
    if _size(first.stop, same) != _size(later.stop, same) or not first.start == later.start == 0 \
            or not first.step == later.step == 1:
        return False
    shared = _labels_touched(later.body) & set(rows)
    if not shared & set().union(*(_labels_touched(loop.body) for loop in loops)):
        return False  # (no row passes between them: independent loops are `fuse_sibling_loops`' to fuse)
    used, defined = {s.name for s in _symbols_used(later)}, defined_names([later])
    for loop in loops:
        if defined_names([loop]) & (used | defined):
            return False
        for one, other in ((loop, later), (later, loop)):
            if (_labels_made(one.body) & _labels_touched(other.body)) - set(rows):
                return False
    return True


def _fused_rows(run, rows, statements):
    """The statements of a run of row loops as one loop (`fuse_row_layers`), or as they were for one loop."""
    loops = [s for s in run if isinstance(s, Loop)]
    if len(loops) < 2:
        return run
    first = loops[0]
    others = [s for s in statements if isinstance(s, Loop) and all(s is not loop for loop in loops)]
    elsewhere = set().union(set(), *(_array_accesses(s) for s in others))
    made_here = {s.base.label for s in run if isinstance(s, Allocate)}
    contracted = {label: rows[label] for label in made_here - elsewhere if len(rows[label].shape) >= 2}
    touched = [_labels_touched(loop.body) & set(rows) for loop in loops]
    if any(sum(label in labels for labels in touched) > 1 for label in set(rows) - set(contracted)):
        return run  # (an array of rows kept whole, stored and read in one loop, would need its stores undone)
    activations = {s.target for s in walk(loops) if isinstance(s, Assign) and output_slope(s.value, sp.Dummy())}
    if any(isinstance(s, Store) and s.base.label in contracted and s.value in activations for s in walk(loops)):
        return run  # (its output, stored into a whole array, is read back from it: a row would need a tape)
    ahead, body, carried = [], [], []
    for statement in run:
        if isinstance(statement, Assign):
            ahead.append(statement)
        elif isinstance(statement, Allocate) and statement.base.label in contracted:
            body.append(statement)
        elif isinstance(statement, Allocate):
            ahead.append(statement)
        else:
            renamed = _substituted(statement, {statement.index: first.index})
            body += renamed.body
            carried += renamed.carried
    loop = Loop(first.index, first.start, first.stop, first.step, body, carried, first.line)
    return ahead + [_contracted(loop, contracted)]


def _contracted(value, arrays):
    """`value` with each array of `arrays` (label -> its `Allocate`) made as one row: its first axis (always at the
    index of the loop over the rows) dropped."""
    def change(part):
        if isinstance(part, sp.Basic):
            return part.replace(lambda e: isinstance(e, sp.Indexed) and e.base.label in arrays,
                                lambda e: _row_of(arrays[e.base.label])[e.indices[1:]])
        if isinstance(part, Allocate) and part.base.label in arrays:
            return Allocate(_row_of(part), tuple(part.shape[1:]), part.line)
        if isinstance(part, Store) and part.base.label in arrays:
            return Store(_row_of(arrays[part.base.label]), tuple(_contracted(list(part.indices[1:]), arrays)),
                         _contracted(part.value, arrays), part.accumulate, part.line)
        return None
    return rebuilt(value, change)


def _row_of(allocate):
    """The IndexedBase of one row of the array `allocate` makes (same label, its first axis dropped)."""
    return sp.IndexedBase(allocate.base.label, shape=tuple(allocate.shape[1:]))


def hoist_allocations(statements, entry_symbols):
    """Make before a loop, once, each 1-D local array that every iteration of the loop makes and then rewrites
    whole before anything reads it (the hidden layer of a network evaluated row by row).

    Its contents are then the same whenever they are read, and reverse mode treats it as an array made outside
    the loop: its stores are undone in the reverse sweep instead of every read of it being taped, and codegen
    can run each row's reverse sweep right after the row (`per_row_fusion`).  Pass `hoist_allocations`;
    precondition, checked here: the size depends on the arguments alone, and the first statement of the body
    after it that touches the array is a loop over ``range(0, size)`` whose one store into it, at the top of its
    body, writes the element at its index (not `+=`), and which touches it nowhere else (`ir.overwritten_first`)."""
    hoisted = []
    for statement in statements:
        if isinstance(statement, Loop):
            body, made = [], []
            for at, inner in enumerate(statement.body):
                if isinstance(inner, Allocate) and len(inner.shape) == 1 and \
                        sp.sympify(inner.shape[0]).free_symbols <= entry_symbols and \
                        overwritten_first(statement.body[at + 1:], inner):
                    made.append(inner)
                else:
                    body.append(inner)
            statement = Loop(statement.index, statement.start, statement.stop, statement.step,
                             hoist_allocations(body, entry_symbols), statement.carried, statement.line)
            hoisted += made
        hoisted.append(statement)
    return hoisted


def _labels_read(statement):
    """The array labels a statement's own values (and an assignment's guard) read."""
    values = [statement.value] if isinstance(statement, (Assign, Store, Update, Push)) else []
    if isinstance(statement, Assign):
        values.append(statement.guard)
    if isinstance(statement, Store):
        values += list(statement.indices)
    return {e.base.label for v in values for e in sp.sympify(v).atoms(sp.Indexed)}


def guarded_sums(statements, carried=()):
    """Write `if c: s += t` (lifted as ``u = s + t; s' = u if c else s``) as ``s' = s - (-t if c else 0.0)``.

    `s` is then a pure accumulator (`_pure_accumulator`): reverse mode needs none of its values, so it is not taped
    every iteration, and codegen may fuse the loop's reverse sweep into it.  Both forms compute the same floats:
    ``s - (-t)`` is ``s + t`` and ``s - 0.0`` is ``s``, -0.0 included.  Pass `guarded_sums`; precondition, checked
    here: `s` is a symbol, neither `t` nor `c` reads it, and nothing but ``s'`` reads `u` (nor a carried value)."""
    rewritten = []
    for statement in statements:
        if isinstance(statement, Loop):
            statement = Loop(statement.index, statement.start, statement.stop, statement.step,
                             guarded_sums(statement.body, statement.carried), statement.carried, statement.line)
        elif isinstance(statement, Assign) and isinstance(statement.value, sp.Piecewise) \
                and len(statement.value.args) == 2 and statement.value.args[1][1] is sp.true:
            (taken, condition), (before, _) = statement.value.args
            summed = next((k for k, s in enumerate(rewritten) if isinstance(s, Assign) and s.target == taken), None)
            if summed is not None and isinstance(before, sp.Symbol) and not condition.has(before):
                term = rewritten[summed].value - before
                readers = [s for s in rewritten + statements if s is not rewritten[summed]
                           and s is not statement and taken in _symbols_used(s)]
                if (rewritten[summed].value.is_Add and before in rewritten[summed].value.args
                        and not term.has(before) and not readers
                        and not any(taken in c.next.free_symbols for c in carried)):
                    line = rewritten.pop(summed).line  # (the term's line, which messages about its reads name)
                    statement = Assign(statement.target, before - sp.Piecewise((-term, condition), (0.0, True)),
                                       statement.guard, line)
        rewritten.append(statement)
    return rewritten


def write_once_arrays(statements):
    """The local arrays whose every element is written at most once, by a plain store, before anything reads the
    array: the layers of a vectorised network (`h = np.maximum(X @ W.T + b, 0.0)`).

    Such an array holds at the end of the forward sweep what every read of it saw, so reverse mode neither records
    the value each store overwrites nor puts it back in the sweep; it reads an activation's output back from the
    array instead of a tape (`Reverser.record`), and it leaves the adjoint element as it is after its one read
    (nothing reads it again).  Pass `write_once_arrays`; precondition, checked here: the array is made by an
    `Allocate` outside every loop; either one `Store` writes it, not `+=`, and its indices are the indices of the
    loops around it, each once, every loop's indices provably nonnegative (so no two iterations write the same
    element), and no statement reads the array before the loop nest holding that store, nor inside it; or (the
    array a Jacobian packs a returned tuple into, `jacobian._packed`) every store into it is a statement of the
    same block as the `Allocate`, not `+=`, at nonnegative integer constants, no two at the same element, and no
    statement reads the array before the last of them, that one included."""
    labels = set()
    for at, statement in enumerate(statements):
        if not isinstance(statement, Allocate):
            continue
        label = statement.base.label
        later = statements[at + 1:]
        stores = [s for s in walk(later) if isinstance(s, Store) and s.base.label == label]
        if not stores or any(s.accumulate for s in stores):
            continue
        if _stored_at_constants(stores, later, label):
            labels.add(label)
            continue
        if len(stores) != 1:
            continue
        store = stores[0]
        nest = next(k for k, s in enumerate(later) if any(t is store for t in walk([s])))
        loops = _loops_around(later[nest], store)
        indices = [loop.index for loop in loops or ()]
        if (loops and len(set(indices)) == len(indices) == len(store.indices)
                and set(store.indices) == set(indices) and all(_counts_from_zero(loop) for loop in loops)
                and not any(_reads_array(s, label) for s in later[:nest + 1])):
            labels.add(label)
    return labels


def _stored_at_constants(stores, block, label):
    """Whether `stores` (every store into the array `label`) are statements of `block` at distinct nonnegative
    integer constants, none read by what comes before the last of them in `block` (see `write_once_arrays`)."""
    positions = [next((k for k, s in enumerate(block) if s is store), None) for store in stores]
    if None in positions or not all(i.is_Integer and i >= 0 for s in stores for i in s.indices):
        return False
    if len({s.indices for s in stores}) != len(stores):
        return False
    return not any(_reads_array(s, label) for s in block[:max(positions) + 1])


def _counts_from_zero(loop):
    """Whether every index `loop` runs through is provably nonnegative (a negative one counts from the end of an
    array, so two iterations could write one element)."""
    if not sp.sympify(loop.step).is_number or loop.step == 0:
        return False
    lowest = loop.start if loop.step > 0 else loop.stop + 1
    return sp.sympify(lowest).is_nonnegative is True


def _loops_around(statement, store):
    """The loops from `statement` down to the body holding `store`, outermost first; None when `store` is not
    reached through loops alone."""
    if not isinstance(statement, Loop):
        return None
    if any(s is store for s in statement.body):
        return [statement]
    for inner in statement.body:
        if any(s is store for s in walk([inner])):
            deeper = _loops_around(inner, store)
            return None if deeper is None else [statement] + deeper
    return None


def _reads_array(statement, label):
    """Whether `statement` (a loop: its range, carried values or body) reads an element of the array `label`."""
    return any(e.base.label == label for x in expressions(walk([statement])) for e in sp.sympify(x).atoms(sp.Indexed))


def activation_outputs(statements, loop_arrays, inside=0):
    """The statements whose reverse sweep takes the activation's derivative from its output (`tanh' = 1 - out**2`,
    `relu' = out > 0`), and the nested loops' results that then need no tape: (ids of those statements, symbols).

    In the sweep of `A[i] = f(z)` the output is read back from `A[i]` (every later store into an array made outside
    a loop is undone by then, so it holds what this store wrote); `t = f(z)` inside a loop in a loop is recorded
    on a tape in place of `z`.  A loop's result `z` then goes untaped when nothing in the sweep reads it: each
    statement reading it is such an activation, or a sum-like value (its partials free of `z`) whose own target
    nothing reads but such statements.  Pass `activation_outputs`; precondition, checked here: the activation is
    the whole right-hand side, its partial written from the output alone (`rules.OUTPUT_SLOPES`), its argument's
    partials and its guard free of `z`, and `z` read by no loop, carried value, index or store of an array made
    inside a loop; `reverse` checks on the finished sweep that no untaped value is read."""
    chosen, untaped = set(), set()
    for at, statement in enumerate(statements):
        if isinstance(statement, Store) and not statement.accumulate and statement.base.label not in loop_arrays \
                and output_slope(statement.value, sp.Dummy()):
            chosen.add(id(statement))
        if isinstance(statement, Loop):
            inner, free = activation_outputs(statement.body, loop_arrays, inside + 1)
            chosen |= inner
            untaped |= free
            if not inside:
                continue  # (a loop's results are taped only inside another loop)
            for carried in statement.carried:
                readers = _needless_readers(carried.result, statements[at + 1:], loop_arrays)
                if readers is not None:
                    untaped.add(carried.result)
                    chosen |= readers
    return chosen, untaped


def _needless_readers(symbol, later, loop_arrays):
    """The activations through which alone `later` reads `symbol`, when no partial of the sweep needs its value
    (see `activation_outputs`); None when one does."""
    readers = set()
    for statement in later:
        if symbol not in _symbols_used(statement):
            continue
        if isinstance(statement, Assign):
            if statement.guard is not sp.true or statement.taped:
                return None
        elif not isinstance(statement, Store) or statement.accumulate or statement.base.label in loop_arrays or any(
                symbol in sp.sympify(i).free_symbols for i in statement.indices):
            return None
        activation = output_slope(statement.value, sp.Dummy())
        value = activation[0] if activation else statement.value
        if any(symbol in local_partial(value, atom).free_symbols for atom in differentiable_atoms(value)):
            return None
        if activation:
            readers.add(id(statement))
            continue
        if isinstance(statement, Store):
            return None
        further = _needless_readers(statement.target, later, loop_arrays)
        if further is None:
            return None
        readers |= further
    return readers


class Reverser:
    def __init__(self, program, wrt, enabled=passes.ALL, output=0):
        self.program = program
        self.enabled = enabled
        self.used_names = {a.name for a in program.arguments} | defined_names(program.body)
        self.used_names |= {s.name for a in program.arguments for s in a.shape}
        self.entry_symbols = {s for a in program.arguments for s in a.shape} | {
            a.symbol for a in program.arguments if a.kind == "int"}
        body = fuse_sibling_loops(program.body) if "fuse_sibling_loops" in enabled else program.body
        body = fuse_row_layers(body, program.outputs, program.shape_checks) if "fuse_row_layers" in enabled \
            else body
        body = hoist_allocations(body, self.entry_symbols) if "hoist_allocations" in enabled else body
        body = guarded_sums(body) if "guarded_sums" in enabled else body
        self.body = name_sums(body, self.fresh) if "name_sums" in enabled else body
        self._atoms = {}  # expression -> its differentiable atoms (activity and the sweep ask for each twice or more)
        self._carrying_atoms = {}  # expression -> `carrying_atoms` (pass `useful_activity`)
        self.adjoint_of = {}
        self.adjoint_arrays = {}
        self.tapes = {}  # name -> how many records it will hold (None: not known before the loops run)
        arguments = {program.argument(name).symbol for name in wrt}
        if "useful_activity" in enabled:
            self.reads = self._carrying
            varied = self._activity(self.body, arguments)
            self.active = varied & self._usefulness(program.outputs[output]) | arguments
        else:
            self.reads = self.atoms_of
            self.active = self._activity(self.body, arguments)
        self.taped_carried = {}
        self.loop_arrays = _allocated_in_loops(self.body, False)
        self.store_tapes = {}
        self.from_output, self.untaped = activation_outputs(self.body, self.loop_arrays) \
            if "activation_outputs" in enabled else (set(), set())
        self.written_once = write_once_arrays(self.body) if "write_once_arrays" in enabled else set()
        self.read_back = {}  # an activation's output -> the element of a write-once array it is stored into

    def atoms_of(self, expr):
        """`differentiable_atoms(expr)`, found once per expression (the set is shared: not to be changed)."""
        found = self._atoms.get(expr)
        if found is None:
            found = self._atoms[expr] = differentiable_atoms(expr)
        return found

    def _carrying(self, expr):
        """`carrying_atoms(expr)`, found once per expression (shared, as `atoms_of`)."""
        found = self._carrying_atoms.get(expr)
        if found is None:
            found = self._carrying_atoms[expr] = carrying_atoms(expr)
        return found

    def fresh(self, name):
        return unique_symbol(self.used_names, name)

    def new_tape(self, symbol, loops):
        """A tape for one record site inside `loops`, sized up front when their trip counts are known at entry."""
        name = self.fresh(f"tape_{symbol.name}").name
        size = sp.Integer(1)
        for loop in loops:
            span = loop.stop - loop.start if loop.step > 0 else loop.start - loop.stop
            size *= sp.Max(0, IntDiv(span + abs(loop.step) - 1, abs(loop.step)) if abs(loop.step) != 1 else span)
        self.tapes[name] = size if size.free_symbols <= self.entry_symbols else None
        return name

    def adjoint_array(self, base):
        label = base.label
        if label not in self.adjoint_arrays:
            self.adjoint_arrays[label] = sp.IndexedBase(self.fresh(f"{label.name}_bar"), shape=base.shape)
        return self.adjoint_arrays[label]

    # --- which values depend on the wrt arguments ---------------------------------------------------------
    def _activity(self, statements, active):
        """The symbols (and array labels) whose values depend on `active`, found by iterating to a fixpoint."""
        active = set(active)
        while True:
            size = len(active)
            self._mark(statements, active)
            if len(active) == size:
                return active

    def _mark(self, statements, active):
        reads = lambda e: {_key(a) for a in self.reads(e)}  # noqa: E731
        for statement in statements:
            if isinstance(statement, Assign) and reads(statement.value) & active:
                active.add(statement.target)
            elif isinstance(statement, Store) and reads(statement.value) & active:
                active.add(statement.base.label)
            elif isinstance(statement, Loop):
                for carried in statement.carried:
                    if (reads(carried.initial) | reads(carried.next)) & active:
                        active |= {carried.phi, carried.result}
                self._mark(statement.body, active)

    def _usefulness(self, seed):
        """The symbols (and array labels) through which the output's value depends on something with a nonzero
        partial (pass `useful_activity`): a value read only by conditions, comparisons or an index (np.argmax's
        position) is not one, and neither is what only it reads.  Found backwards, iterating to a fixpoint."""
        useful = {_key(seed)} if isinstance(seed, sp.Basic) and not seed.is_number else set()
        while True:
            size = len(useful)
            self._mark_useful(self.body, useful)
            if len(useful) == size:
                return useful

    def _mark_useful(self, statements, useful):
        reads = lambda e: {_key(a) for a in self._carrying(e)}  # noqa: E731
        for statement in reversed(statements):
            if isinstance(statement, Assign) and statement.target in useful:
                useful |= reads(statement.value)
            elif isinstance(statement, Store) and statement.base.label in useful:
                useful |= reads(statement.value)
            elif isinstance(statement, Loop):
                for carried in statement.carried:
                    if carried.phi in useful or carried.result in useful:
                        useful |= {carried.phi, carried.result} | reads(carried.initial) | reads(carried.next)
                self._mark_useful(statement.body, useful)

    # --- the forward sweep, with what the reverse sweep needs recorded ------------------------------------
    def record(self, statements, loops):
        """A copy of `statements` (the body of the innermost of `loops`) with the tape records (`Push`) the
        reverse sweep will pop: what it cannot recompute.  That is a carried value other than an accumulator, a
        nested loop's result, the value a store overwrites (the reverse sweep puts it back, so that arrays hold
        what they held when each iteration ran), and a read of a local array that the same loop body also
        writes, or that lives only for one iteration of an enclosing loop."""
        recorded = []
        for statement in statements:
            if isinstance(statement, Store) and statement.base.label not in self.loop_arrays | self.written_once:
                self.store_tapes[id(statement)] = self.new_tape(statement.base.label, loops)
                recorded.append(Push(self.store_tapes[id(statement)], sp.Indexed(statement.base, *statement.indices)))
            recorded.append(statement)
            if isinstance(statement, Assign) and id(statement) in self.from_output:
                element = self._stored_once(statement, statements)
                if element is not None:
                    self.read_back[statement.target] = element
                else:
                    recorded.append(Push(self._tape_of(statement.target, loops), statement.target))
            elif isinstance(statement, Assign) and statement.taped:
                label = statement.value.base.label
                if label in self.loop_arrays or _stores_to(loops[-1].body, label):
                    recorded.append(Push(self._tape_of(statement.target, loops), statement.target))
            elif isinstance(statement, Loop):
                inner = loops + [statement]
                pushes = [Push(self._tape_of(c.phi, inner), c.phi) for c in statement.carried
                          if not _pure_accumulator(statement, c)]
                body = pushes + self.record(statement.body, inner)
                recorded[-1] = Loop(statement.index, statement.start, statement.stop, statement.step, body,
                                    statement.carried, statement.line)
                if loops:
                    recorded += [Push(self._tape_of(c.result, loops), c.result) for c in statement.carried
                                 if c.result not in self.untaped]
        return recorded

    def _stored_once(self, assign, body):
        """The element of a write-once array into which `body` stores `assign`'s target unconditionally, or None."""
        if assign.guard is not sp.true:
            return None
        for statement in body:
            if (isinstance(statement, Store) and statement.base.label in self.written_once
                    and statement.value == assign.target):
                return sp.Indexed(statement.base, *statement.indices)
        return None

    def _tape_of(self, symbol, loops):
        if symbol not in self.taped_carried:
            self.taped_carried[symbol] = self.new_tape(symbol, loops)
        return self.taped_carried[symbol]

    # --- the reverse sweep ------------------------------------------------------------------------------
    def sweep(self, statements, scope):
        for statement in reversed(statements):
            if isinstance(statement, Assign):
                if statement.target in self.active:
                    bar = scope.total(statement.target)
                    if id(statement) in self.from_output:
                        self.propagate_from_output(statement.value, statement.target, bar, scope, statement.guard)
                    else:
                        self.propagate(statement.value, bar, scope, statement.guard, statement.target)
            elif isinstance(statement, Store):
                if statement.base.label in self.active:
                    bar_array = self.adjoint_array(statement.base)
                    bar = self.fresh(f"{statement.base.label.name}_bar_at")
                    scope.out.append(Assign(bar, sp.Indexed(bar_array, *statement.indices)))
                    if not statement.accumulate and statement.base.label not in self.written_once:
                        scope.out.append(Store(bar_array, statement.indices, sp.Integer(0)))
                    if id(statement) in self.from_output:  # the output, read back before the store is undone
                        out = self.fresh(f"{statement.base.label.name}_out")
                        scope.out.append(Assign(out, sp.Indexed(statement.base, *statement.indices)))
                        self.propagate_from_output(statement.value, out, bar, scope)
                    else:
                        self.propagate(statement.value, bar, scope)
                if id(statement) in self.store_tapes:  # put back what the store overwrote
                    previous = self.fresh(f"{statement.base.label.name}_before")
                    scope.out += [Pop(self.store_tapes[id(statement)], previous),
                                  Store(statement.base, statement.indices, previous)]
            elif isinstance(statement, Loop):
                self.reverse_loop(statement, scope)

    def propagate(self, value, bar, scope, guard=sp.true, out=None):
        """Add `bar * d value / d atom` to the adjoint of every active atom `value` reads; `out` holds `value`."""
        if bar == 0:
            return
        for atom in sorted(self.atoms_of(value), key=str):
            if _key(atom) not in self.active:
                continue
            term = times(bar, local_partial(value, atom, out))
            if term == 0:
                continue
            if term.has(sp.Piecewise):
                term = sp.piecewise_fold(term)
            if guard is not sp.true:  # an untaken branch must not leak NaN * 0 into the gradient
                term = sp.Piecewise((term, guard), (0, True))
            scope.contribute(atom, term)

    def propagate_from_output(self, value, out, bar, scope, guard=sp.true):
        """`propagate` for an activation (pass `activation_outputs`): its slope written from `out` alone."""
        argument, slope = output_slope(value, out)
        self.propagate(argument, times(bar, slope), scope, guard)

    def reverse_loop(self, loop, scope):
        carried = [c for c in loop.carried if c.phi in self.active]
        restores = any(id(s) in self.store_tapes for s in walk(loop.body))
        if not carried and not restores and not _stores_active(loop.body, self.active):
            return
        carried_bars = {}
        for c in carried:
            total = scope.total(c.result)
            if "accumulator_adjoint" in self.enabled and total.is_Atom and _pure_accumulator(loop, c):
                carried_bars[c] = total  # an accumulator's adjoint is the same in every iteration
            else:
                carried_bars[c] = self.fresh(f"{c.phi.name}_bar")
                scope.out.append(Update(carried_bars[c], total))
        defined = {loop.index} | {c.phi for c in loop.carried} | _defined_symbols(loop.body)
        inner = _Scope(self, scope, defined)
        inner.out += [Pop(self.taped_carried[c.phi], c.phi) for c in loop.carried if c.phi in self.taped_carried]
        inner.out += self.recompute(loop.body)
        for c in carried:
            if isinstance(c.next, sp.Symbol) and c.next in defined:
                inner.contributions[c.next].append(carried_bars[c])
            else:
                self.propagate(c.next, carried_bars[c], inner)
        self.sweep(loop.body, inner)
        new_bars = [(carried_bars[c], inner.total(c.phi)) for c in carried]
        staged = []
        for bar, value in new_bars:
            if value != bar:
                temporary = self.fresh(f"{bar.name}_next")
                inner.out.append(Assign(temporary, value))
                staged.append(Update(bar, temporary))
        inner.out += staged
        scope.out += [Update(acc, sp.Integer(0)) for acc in inner.accumulators.values()]
        scope.out.append(ReverseLoop(loop, inner.out))
        for outer, acc in inner.accumulators.items():
            scope.contribute(outer, acc)
        for c in carried:
            if isinstance(c.initial, sp.Symbol) and c.initial in self.active:
                scope.contribute(c.initial, carried_bars[c])

    def recompute(self, body):
        """The body's forward values for one iteration, from what was recorded; adjoint arrays zeroed."""
        statements = []
        for statement in body:
            if isinstance(statement, Assign):
                if statement.target in self.taped_carried:
                    statements.append(Pop(self.taped_carried[statement.target], statement.target))
                elif statement.target in self.read_back:
                    statements.append(Assign(statement.target, self.read_back[statement.target]))
                else:  # (the same statement: codegen knows it by identity; its probe matters in the forward sweep)
                    statements.append(statement)
            elif isinstance(statement, Loop):
                statements += [Pop(self.taped_carried[c.result], c.result) for c in statement.carried
                               if c.result in self.taped_carried]
            elif isinstance(statement, Allocate) and statement.base.label in self.active:
                statements.append(Allocate(self.adjoint_array(statement.base), statement.shape))
        return statements

    def run(self, wrt, output):
        program = self.program
        forward = self.record(self.body, [])
        top = _Scope(self, None, set())
        seed = program.outputs[output]
        if isinstance(seed, sp.Basic) and _key(seed) in self.active and not seed.is_number:
            top.contributions[seed].append(sp.Integer(1))
        for statement in self.body:
            if isinstance(statement, Allocate) and statement.base.label in self.active:
                top.out.append(Allocate(self.adjoint_array(statement.base), statement.shape))
        arrays = [program.argument(name) for name in wrt if program.argument(name).base is not None]
        top.out += [Allocate(self.adjoint_array(a.base), a.shape) for a in arrays]
        self.sweep(self.body, top)
        gradients = []
        for name in wrt:
            argument = program.argument(name)
            if argument.base is not None:
                gradients.append(self.adjoint_array(argument.base).label)
            else:
                gradients.append(top.total(argument.symbol))
        for argument in arrays:
            self.adjoint_of.setdefault(argument.symbol, self.adjoint_array(argument.base).label)
        return Derivative(program, list(wrt), forward, top.out, gradients, self.adjoint_of, self.tapes)


def reverse(program: Program, wrt, output=0, enabled=passes.ALL) -> Derivative:
    """The adjoint of `program.outputs[output]` with respect to the arguments named in `wrt`; `enabled` names the
    optimisation passes to apply (see `symgrad.passes`)."""
    reverser = Reverser(program, wrt, enabled, output)
    derivative = reverser.run(wrt, output)
    if reverser.untaped & _read_by(derivative.adjoint):  # (activation_outputs' precondition, checked after)
        derivative = Reverser(program, wrt, enabled - {"activation_outputs"}, output).run(wrt, output)
    if "useful_activity" in enabled:
        derivative = unpopped_tapes(derivative)
    return derivative


def unpopped_tapes(derivative):
    """`derivative` without the tape records that its reverse sweep never uses: those of a loop it does not
    reverse (np.argmax's loop, once pass `useful_activity` finds that nothing it carries has an adjoint), and those
    whose popped values nothing reads (a row's dot product, when the sweep only needs the adjoint of its store).
    Part of pass `useful_activity`; precondition: none (a tape is read only by its pops, and a pop that goes
    with its pushes changes nothing else)."""
    pops = [s for s in walk(derivative.adjoint) if isinstance(s, Pop)]
    read = _read_by(derivative.adjoint)
    used = {s.tape for s in pops if s.target in read}
    adjoint = without(derivative.adjoint, lambda s: isinstance(s, Pop) and s.tape not in used)
    forward = without(derivative.forward, lambda s: isinstance(s, Push) and s.tape not in used)
    tapes = {name: size for name, size in derivative.tapes.items() if name in used}
    return dataclasses.replace(derivative, forward=forward, adjoint=adjoint, tapes=tapes)


def without(statements, dropped):
    """`statements` without those for which `dropped` holds, looking inside loops, sweeps and `When`s (a block
    left as it was is the same object)."""
    result = []
    for statement in statements:
        if dropped(statement):
            continue
        if isinstance(statement, (Loop, ReverseLoop, When)):
            body = without(statement.body, dropped)
            if len(body) != len(statement.body) or any(a is not b for a, b in zip(body, statement.body)):
                statement = dataclasses.replace(statement, body=body)
        result.append(statement)
    return result


def _read_by(statements):
    """The symbols whose values `statements` (a reverse sweep) read, an assignment counting only when its target
    is read in turn (what dead-code elimination leaves)."""
    flat = [s for s in walk(statements)]
    read = set()
    for statement in flat:
        if isinstance(statement, ReverseLoop):
            loop = statement.loop
            read |= set().union(*(e.free_symbols for e in (loop.start, loop.stop, loop.step)))
            read |= {statement.unless_zero} - {None}
        elif isinstance(statement, When):
            read |= statement.condition.free_symbols
        elif not isinstance(statement, (Assign, Loop)):
            read |= _symbols_used(statement)
    while True:
        size = len(read)
        for statement in flat:
            if isinstance(statement, Assign) and statement.target in read:
                read |= statement.value.free_symbols | statement.guard.free_symbols
        if len(read) == size:
            return read


def _pure_accumulator(loop, carried):
    """Whether a carried value is only added to: its one use is `next = phi + (terms without phi)`, unguarded,
    and nothing in the loop reads `next` but the carry itself.

    Then its adjoint is the same in every iteration (pass `accumulator_adjoint` reuses the symbol of its total
    adjoint) and the reverse sweep needs none of its values.  A running sum read inside its own loop (a prefix
    sum, `z += x[i]; s += z * z`) is not one: the reads add to its adjoint from one iteration to the next."""
    uses = [s for s in loop.body if carried.phi in _symbols_used(s)]
    if len(uses) != 1 or not isinstance(uses[0], Assign) or uses[0].target != carried.next:
        return False
    if (uses[0].value - carried.phi).has(carried.phi) or uses[0].guard is not sp.true:
        return False  # (also a sum whose terms' branches read it: `t += e if t <= c else 0` needs each t)
    readers = [s for s in loop.body if carried.next in _symbols_used(s)]
    others = [c for c in loop.carried if c is not carried and carried.next in c.next.free_symbols]
    return not readers and not others


def _defined_symbols(statements):
    symbols = set()
    for statement in statements:
        if isinstance(statement, Assign):
            symbols.add(statement.target)
        elif isinstance(statement, Loop):
            symbols |= {c.result for c in statement.carried}
    return symbols


def defined_names(statements):
    names = set()
    for statement in statements:
        if isinstance(statement, Assign):
            names.add(statement.target.name)
        elif isinstance(statement, Allocate):
            names.add(statement.base.label.name)
        elif isinstance(statement, Loop):
            names.add(statement.index.name)
            names |= {s.name for c in statement.carried for s in (c.phi, c.result)}
            names |= defined_names(statement.body)
    return names


def _symbols_used(statement):
    """Every symbol a statement reads, looking inside loops; an assignment's guard is read too (it decides whether
    the value is used: the guard of a loop after an early return reads the sum that decided it, fuzz seed
    10300484)."""
    if isinstance(statement, Assign):
        return statement.value.free_symbols | sp.sympify(statement.guard).free_symbols
    if isinstance(statement, (Update, Push)):
        return statement.value.free_symbols
    if isinstance(statement, Store):
        return statement.value.free_symbols | set().union(*(i.free_symbols for i in statement.indices))
    if isinstance(statement, Loop):
        used = set().union(*(e.free_symbols for e in (statement.start, statement.stop, statement.step)))
        for c in statement.carried:
            used |= c.initial.free_symbols | c.next.free_symbols
        for inner in statement.body:
            used |= _symbols_used(inner)
        return used
    return set()


def _stores_to(statements, label):
    return any(isinstance(s, Store) and s.base.label == label for s in walk(statements))


def _allocated_in_loops(statements, inside):
    """The local arrays made inside a loop: a new array each iteration."""
    labels = set()
    for statement in statements:
        if isinstance(statement, Allocate) and inside:
            labels.add(statement.base.label)
        elif isinstance(statement, Loop):
            labels |= _allocated_in_loops(statement.body, True)
    return labels


def _stores_active(statements, active):
    for statement in statements:
        if isinstance(statement, Store) and statement.base.label in active:
            return True
        if isinstance(statement, Loop) and _stores_active(statement.body, active):
            return True
    return False
