"""The structural nonzeros of a Hessian (or a Jacobian), derived from the program rather than guessed from values.

The program is run abstractly for given array shapes and integer arguments: integers (loop indices, sizes,
integer arguments) are computed, and every float value carries the set of elements of the `wrt` array it depends
on.  Each nonlinear operation adds the pairs of elements that can interact in it (the product of two factors'
sets, the square of a smooth function's argument's set) to one pattern, which contains every nonzero of the
Hessian at every value of the floats (Walther's nonlinear interaction domains).  Branches count both sides;
piecewise-linear operations (max, abs, floor, sign) add nothing, their second derivative being zero almost
everywhere, as everywhere else in symgrad.

A loop whose body is straight-line code adding into its carried floats (a sum of terms, each reading the array
at indices computed from the loop index) is run once with the index left a symbol (`_Pattern.summarised`): the
pairs it adds are templates in the index, laid out over the whole range with NumPy, so a loss summed over 10^5
terms takes the time of one term plus an array operation.  Any other loop runs iteration by iteration.
"""

import itertools

import numpy as np
import sympy as sp

from .errors import ArrayIndexError
from .ir import INDEX_KINDS, Allocate, Assign, Loop, Store
from .rules import rule_for

EMPTY = frozenset()


class _NotSummable(Exception):
    """The loop cannot be run once with a symbolic index: it is run iteration by iteration instead."""


class _Pattern:
    def __init__(self, program, name, values):
        self.wrt = program.argument(name).symbol
        self.pairs = set()
        self.laid_out = []  # (rows, columns) arrays of the pairs that summarised loops add
        self.templates = set()  # the pairs of the loop being summarised, in terms of its index
        self.symbolic = None  # the loop index left a symbol while a loop is summarised
        shape = next(np.shape(v) for a, v in zip(program.arguments, values) if a.name == name)
        self.n, self.shape = int(np.prod(shape)), shape  # (the elements of a 2-D wrt are its C-order positions)
        self.integers = {}  # integer symbol -> sympy Integer
        self.floats = {}  # float symbol -> frozenset of wrt elements
        self.arrays = {}  # local array label -> {index tuple: frozenset}
        self.sizes = {}  # local array label -> its shape, as ints
        self.indices = {}  # label of an int64 argument array of indices (a gather's, a table's) -> its value
        for argument, value in zip(program.arguments, values):
            if argument.kind == "int":
                self.integers[argument.symbol] = sp.Integer(int(value))
            elif argument.kind in INDEX_KINDS:
                self.indices[argument.symbol] = value
            for k, size in enumerate(argument.shape):
                self.integers[size] = sp.Integer(value.shape[k])

    def integer(self, expr):
        value = sp.sympify(expr).xreplace(self.integers)
        value = value.xreplace({read: self.index_read(read) for read in value.atoms(sp.Indexed)
                                if read.base.label in self.indices})
        if value.is_Integer:
            return int(value)
        if self.symbolic is not None and value.free_symbols == {self.symbolic}:
            return value  # an integer in terms of the summarised loop's index
        if self.symbolic is not None:
            raise _NotSummable
        raise ValueError(f"the Hessian's pattern needs {expr} as an integer before the floats are known")

    def index_read(self, read):
        """The element of an argument array of indices that `read` takes, at indices the integers decide (a read at
        the summarised loop's index is run element by element)."""
        indices = tuple(self.integer(i) for i in read.indices)
        if not all(isinstance(i, int) for i in indices):
            raise _NotSummable
        return sp.Integer(int(self.indices[read.base.label][indices]))

    def add_pairs(self, first, second):
        """Every pair (i, j) with i in `first`, j in `second`, each stored as (min, max)."""
        for i, j in itertools.product(first, second):
            if isinstance(i, int) and isinstance(j, int):
                self.pairs.add((min(i, j), max(i, j)))
            else:
                self.templates.add((i, j))

    def interact(self, *sets):
        """Every pair of elements taken from the union of `sets` (a smooth nonlinear function of them)."""
        elements = frozenset().union(*sets)
        self.add_pairs(elements, elements)

    def depends(self, expr):
        """The wrt elements `expr` depends on, adding the interactions its operations make."""
        if expr.is_Number or getattr(expr, "is_integer", False) and not isinstance(expr, sp.Indexed):
            return EMPTY
        if isinstance(expr, sp.Symbol):
            return self.floats.get(expr, EMPTY)
        if isinstance(expr, sp.Indexed):
            if any(_decided_by_floats(sp.sympify(i).xreplace(self.integers).free_symbols) for i in expr.indices):
                return self.anywhere_in(expr.base.label)
            indices = tuple(self.integer(i) for i in expr.indices)
            if expr.base.label == self.wrt:
                return frozenset([self.element(indices)])
            if expr.base.label not in self.arrays:
                return EMPTY  # (data: an argument array other than wrt)
            if not all(isinstance(i, int) for i in indices):
                raise _NotSummable  # (a local array read at an index that varies with the summarised loop)
            return self.arrays[expr.base.label].get(self.local_index(expr.base.label, indices), EMPTY)
        if isinstance(expr, sp.Piecewise):  # conditions have no derivative; each side may be taken, unless its
            taken = []  # condition is decided by the integers alone (x[i - 1] under i > 0 is not read at i = 0)
            for value, condition in expr.args:
                decided = self.decided(condition)
                if decided is sp.false:
                    continue
                taken.append(self.depends(value))
                if decided is sp.true:
                    break
            return frozenset().union(*taken)
        parts = [self.depends(a) for a in expr.args]
        if isinstance(expr, sp.Add):
            pass
        elif isinstance(expr, sp.Mul):
            for a, b in itertools.combinations(parts, 2):
                self.add_pairs(a, b)
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

    def element(self, indices):
        """The element of wrt at `indices`, its C-order position; a negative index counts from the end of its axis,
        as the kernels read it.  A 2-D wrt read at an index of the summarised loop is run element by element."""
        if len(indices) == 1:
            return indices[0] + self.n if isinstance(indices[0], int) and indices[0] < 0 else indices[0]
        if not all(isinstance(i, int) for i in indices):
            raise _NotSummable
        position = 0
        for index, size in zip(indices, self.shape):
            position = position * size + (index + size if index < 0 else index)
        return position

    def local_index(self, label, indices):
        """`indices` of a local array with each negative int counted from the end of its axis, as the kernels
        read it, so that `w[-1]` and `w[n - 1]` are one element."""
        sizes = self.sizes.get(label, ())
        return tuple(index + size if isinstance(index, int) and index < 0 and isinstance(size, int) else index
                     for index, size in zip(indices, sizes)) if sizes else indices

    def decided(self, condition):
        """`condition` with the integers known put in: sp.true or sp.false when they decide it."""
        decided = sp.sympify(condition).xreplace(self.integers)
        if self.symbolic is not None and self.symbolic in decided.free_symbols:
            raise _NotSummable  # (decided per iteration: the loop runs element by element)
        return decided

    def run(self, statements):
        for statement in statements:
            if isinstance(statement, Assign):
                if self.decided(statement.guard) is sp.false:  # a statement whose guard fails is not computed
                    (self.integers if statement.target.is_integer else self.floats)[statement.target] = (
                        sp.Integer(0) if statement.target.is_integer else EMPTY)
                    continue
                self.bind(statement.target, statement.value)
            elif isinstance(statement, Allocate):
                self.arrays[statement.base.label] = {}
                self.sizes[statement.base.label] = tuple(self.integer(size) for size in statement.shape)
            elif isinstance(statement, Store):
                elements = self.arrays.setdefault(statement.base.label, {})
                value = self.depends(statement.value)
                if any(_decided_by_floats(sp.sympify(i).xreplace(self.integers).free_symbols)
                       for i in statement.indices):  # (a place the floats decide, a sort's rank: any element's)
                    for index in itertools.product(*(range(size) for size in self.sizes[statement.base.label])):
                        elements[index] = value | elements.get(index, EMPTY)
                    continue
                index = self.local_index(statement.base.label, tuple(self.integer(i) for i in statement.indices))
                elements[index] = value | elements.get(index, EMPTY) if statement.accumulate else value
            elif isinstance(statement, Loop):
                self.loop(statement)

    def anywhere_in(self, label):
        """What a read at an index the floats decide (`x[np.argmax(x)]`) may depend on: any element's."""
        if label == self.wrt:
            return frozenset(range(self.n))
        return frozenset().union(*self.arrays.get(label, {}).values())

    def bind(self, symbol, value):
        resolved = sp.sympify(value).xreplace(self.integers).free_symbols
        if symbol.is_integer and _decided_by_floats(resolved):
            self.integers[symbol] = ANYWHERE  # (an index found from floats: np.argmax, and arithmetic on it)
        elif symbol.is_integer:
            self.integers[symbol] = sp.sympify(self.integer(value))
        else:
            self.floats[symbol] = self.depends(value)

    def loop(self, loop):
        if self.symbolic is None and self.summarised(loop):
            return
        for c in loop.carried:
            self.bind(c.phi, c.initial)
        bounds = (self.integer(loop.start), self.integer(loop.stop), self.integer(loop.step))
        if not all(isinstance(b, int) for b in bounds):
            raise _NotSummable  # (a loop inside a summarised one, whose range depends on the outer index)
        for index in range(*bounds):
            self.integers[loop.index] = sp.Integer(index)
            self.run(loop.body)
            following = [(c.phi, c.next) for c in loop.carried]
            values = [(phi, sp.Integer(self.integer(e)) if phi.is_integer else self.depends(e)) for phi, e in following]
            for phi, value in values:
                (self.integers if phi.is_integer else self.floats)[phi] = value
        for c in loop.carried:
            (self.integers if c.phi.is_integer else self.floats)[c.result] = (
                self.integers if c.phi.is_integer else self.floats).get(c.phi, EMPTY)


    def summarised(self, loop):
        """Run `loop` once with its index a symbol, when every iteration adds the same pairs up to a shift: its
        body writes no local array (inner loops run element by element, over ranges that do not depend on the
        index), each carried value is a float that only adds terms to itself (no pair may
        involve it), and every index it reads is an integer of the loop index alone.  Then lay the pairs out over
        the range, set the carried values' results to the union of their terms' elements, and return True;
        otherwise leave everything as it was and return False."""
        if any(isinstance(s, (Store, Allocate)) for s in _statements(loop.body)) or any(
                c.phi.is_integer for c in loop.carried):
            return False
        indices = np.arange(self.integer(loop.start), self.integer(loop.stop), self.integer(loop.step))
        if len(indices) < 2:
            return False
        saved = dict(self.integers), dict(self.floats)
        self.symbolic, self.templates = loop.index, set()
        try:
            for c in loop.carried:
                self.floats[c.phi] = frozenset([c.phi])  # the carried value itself, as an element of its own
            self.integers[loop.index] = loop.index
            self.run(loop.body)
            terms = {c: self.depends(c.next) for c in loop.carried}
            carried = {c.phi for c in loop.carried}
            if any(isinstance(e, sp.Symbol) and e in carried for pair in self.templates for e in pair):
                raise _NotSummable  # a carried value taking part in a nonlinear operation: a product, not a sum
            laid_out = [(self.laid(a, indices), self.laid(b, indices)) for a, b in self.templates]
            results = {c.result: self.floats_before(c, saved[1]) | frozenset().union(
                *(self.laid(e, indices).tolist() for e in terms[c] if e not in carried)) for c in loop.carried}
        except (_NotSummable, TypeError):  # (TypeError: an inner loop's integer carried in terms of the index)
            self.integers, self.floats = saved
            return False
        finally:
            self.symbolic = None
        self.integers, self.floats = saved
        self.floats.update(results)
        self.laid_out.extend((np.minimum(a, b), np.maximum(a, b)) for a, b in laid_out)
        return True

    def floats_before(self, carried, floats):
        """The elements of a carried value's initial value, before the loop."""
        return self.depends(carried.initial) if not isinstance(carried.initial, sp.Symbol) else floats.get(
            carried.initial, EMPTY)

    def laid(self, element, indices):
        """An element (an int, or an integer expression of the summarised loop's index) at every index."""
        if isinstance(element, int):
            return np.full(len(indices), element, dtype=np.int64)
        if isinstance(element, sp.Symbol) and element != self.symbolic:
            raise _NotSummable
        try:
            values = sp.lambdify(self.symbolic, element, "numpy")(indices)
        except Exception as error:  # an integer operation NumPy does not spell as SymPy prints it
            raise _NotSummable from error
        values = np.broadcast_to(np.asarray(values, dtype=np.int64), indices.shape)
        return np.where(values < 0, values + self.n, values)


def _statements(body):
    """The statements of `body` and of the loops inside it."""
    for statement in body:
        yield statement
        if isinstance(statement, Loop):
            yield from _statements(statement.body)


ANYWHERE = sp.Symbol("anywhere", integer=True)  # an index that the floats decide


def _decided_by_floats(symbols):
    """Whether an integer whose free symbols (with the known integers put in) are `symbols` depends on floats: an
    index np.argmax found, a pivot row LU read back from its array (`AsIndex(order_at)`), or arithmetic on one."""
    return ANYWHERE in symbols or any(not s.is_integer for s in symbols)


def hessian_pattern(program, name, values):
    """The pairs (i, j), i <= j, of elements of array argument `name` (C-order positions for a 2-D one) whose second
    derivative of the program's output can be nonzero, for the arrays' shapes and integer arguments in `values`: an int64 array of shape
    (pairs, 2), sorted by i then j."""
    pattern = _Pattern(program, name, values)
    pattern.run(program.body)
    n = pattern.n
    concrete = np.array(sorted(pattern.pairs), dtype=np.int64).reshape(-1, 2)
    rows = np.concatenate([concrete[:, 0]] + [a for a, _ in pattern.laid_out])
    columns = np.concatenate([concrete[:, 1]] + [b for _, b in pattern.laid_out])
    if len(rows) and (rows.min() < 0 or columns.max() >= n):
        raise ArrayIndexError(f"the arguments make {program.name}() read {name} outside its {n} elements (an index "
                              f"past the end of its axis), where Python raises IndexError")
    keys = sorted_unique(rows * n + columns)
    return np.stack([keys // n, keys % n], axis=1)


def colouring(rows, columns, n, m=None):
    """A greedy distance-2 colouring of the n columns of a pattern of m rows (n when not given; entries `rows`,
    `columns`): two columns sharing a row get different colours, so one product along the sum of a colour's unit
    vectors recovers every entry of those columns (a Jacobian's rows are coloured by swapping `rows` and
    `columns`).  Compiled: a pattern of 10^5 columns colours in milliseconds."""
    rows, columns = np.asarray(rows, dtype=np.int64), np.asarray(columns, dtype=np.int64)
    m = n if m is None else m
    by_column = np.ascontiguousarray(rows[np.lexsort((rows, columns))])
    column_start = np.concatenate([[0], np.cumsum(np.bincount(columns, minlength=n))]).astype(np.int64)
    by_row = np.ascontiguousarray(columns[np.lexsort((columns, rows))])
    row_start = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=m))]).astype(np.int64)
    return _greedy()(column_start, by_column, row_start, by_row, n)


_GREEDY = []


def _greedy():
    """The compiled greedy loop (compiled once per process, cached by Numba on disk)."""
    if not _GREEDY:
        import numba

        @numba.njit(cache=True, boundscheck=True)
        def greedy(column_start, by_column, row_start, by_row, n):
            colours = np.full(n, -1, dtype=np.int64)
            taken = np.full(n + 1, -1, dtype=np.int64)  # taken[c] == j: colour c is used next to column j
            for j in range(n):
                for p in range(column_start[j], column_start[j + 1]):  # the rows of column j
                    i = by_column[p]
                    for q in range(row_start[i], row_start[i + 1]):  # the columns sharing row i
                        if colours[by_row[q]] >= 0:
                            taken[colours[by_row[q]]] = j
                c = 0
                while taken[c] == j:
                    c += 1
                colours[j] = c
            return colours

        _GREEDY.append(greedy)
    return _GREEDY[0]


def sorted_unique(keys):
    """np.unique of an int64 array by sort (NumPy 2's hash-based unique takes a second on 10^6 keys)."""
    keys = np.sort(keys)
    return keys[np.concatenate([[True], keys[1:] != keys[:-1]])] if len(keys) else keys


def jacobian_pattern(program, name, values):
    """(rows, columns) of the Jacobian of a program returning a 1-D array (`Program.output_shape`) w.r.t. 1-D
    array argument `name`: the elements each output element depends on, at the given shapes and int arguments."""
    pattern = _Pattern(program, name, values)
    pattern.run(program.body)
    elements = pattern.arrays.get(program.outputs[0], {})
    entries = sorted((row, column) for (row,), columns in elements.items() for column in columns)
    return [row for row, _ in entries], [column for _, column in entries]
