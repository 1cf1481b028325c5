"""The intermediate representation: plain dataclasses holding SymPy expressions.

A `Program` is a list of statements.  `Assign` is a single assignment (SSA within its block): each right-hand
side is one Python expression of the source, so the graph stays linear in the size of the source, and a value
used twice is one shared symbol.  Branches are `Piecewise` values; the statements computed only on one side
of a branch carry that side's condition as their `guard`, which reverse mode uses so that an untaken branch
never leaks NaN into a gradient.

Loops stay loops: a `Loop` holds its body (again a statement list) and its loop-carried values, each a `Carried`
(the symbol the body reads, its value before the loop, the value the body yields for the next iteration, and
the symbol holding the final value after the loop).  Reads of arrays are `sympy.Indexed`; local arrays are made
by `Allocate` and written by `Store`.  Reverse mode adds statements of its own (`Update`, `Push`, `Pop`,
`ReverseLoop`) that only the kernels contain, and so does the bounds stage (`Check`, `When`).  Nothing here
knows about `ast`; nothing imports a later stage.
"""

import dataclasses
from dataclasses import dataclass, field
from typing import Optional

import sympy as sp

# The argument kinds a Program is derived for (one derivation serves every value and every array length).
FLOAT, INT, ARRAY1, ARRAY2, ARRAY3 = "float", "int", "array1", "array2", "array3"
ARRAY_KINDS = {ARRAY1: 1, ARRAY2: 2, ARRAY3: 3}  # float64 arrays, by their number of axes
KIND_OF_AXES = {axes: kind for kind, axes in ARRAY_KINDS.items()}
# int64 arrays read only as indices of other arrays (`x[idx]`, a gather; `bonds[b, 0]`, a table of them), by their
# number of axes; not differentiable
INDEX1, INDEX2 = "index1", "index2"
INDEX_KINDS = {INDEX1: 1, INDEX2: 2}


@dataclass(frozen=True)
class Argument:
    name: str
    symbol: sp.Symbol  # for an array: the IndexedBase's label
    kind: str = FLOAT
    base: Optional[sp.IndexedBase] = None  # arrays only
    shape: tuple = ()  # arrays only: one integer symbol per axis


@dataclass(frozen=True)
class Assign:
    target: sp.Symbol
    value: sp.Expr
    guard: sp.Basic = sp.true  # the branch condition under which the value is used
    line: Optional[int] = None  # line of the source statement, for display and messages
    taped: bool = False  # a read of a local array inside a loop: reverse mode records the value
    probe: bool = False  # a read Python makes whose value may go unused (`x[k] * 0.0`, a helper's ignored argument):
    # kept all the same, so that its index is checked


@dataclass(frozen=True)
class Carried:
    """A loop-carried value: `phi` inside the body, `initial` before, `next` yielded, `result` after the loop."""

    phi: sp.Symbol
    initial: sp.Expr
    next: sp.Expr
    result: sp.Symbol


@dataclass
class Loop:
    index: sp.Symbol
    start: sp.Expr
    stop: sp.Expr
    step: sp.Expr
    body: list
    carried: list
    line: Optional[int] = None


@dataclass(frozen=True)
class Allocate:
    """A local array of zeros: `np.zeros(shape)` and friends."""

    base: sp.IndexedBase
    shape: tuple
    line: Optional[int] = None


@dataclass(frozen=True)
class Store:
    """`base[indices] = value`, or `+=` when `accumulate`."""

    base: sp.IndexedBase
    indices: tuple
    value: sp.Expr
    accumulate: bool = False
    line: Optional[int] = None


# --- statements only the bounds stage writes --------------------------------------------------------------
@dataclass(frozen=True)
class Check:
    """`if not condition: raise ArrayIndexError(message)`: an array access not proven in range at kernel entry."""

    condition: sp.Basic
    message: str


@dataclass
class When:
    """`body` run only while `condition` holds (its assignments are zero otherwise): a guarded statement whose
    element may exist only when its guard holds, as in `if i + 1 < n: s += x[i + 1]`."""

    condition: sp.Basic
    body: list
    # A test printed before `condition` (pass `gate_first`): `if gate: (if condition: body) elif condition: body`,
    # the same statement for any gate, whose branch on a value known early (a ReLU's output) a CPU resolves sooner.
    gate: Optional[sp.Basic] = None
    # The rest of a row's backward pass, run while the adjoint that starts it is not zero (`skip_zero_rows`):
    # printed as an early `continue` where it ends a loop's body.
    row: bool = False


# --- statements only reverse mode writes ---------------------------------------------------------------------
@dataclass(frozen=True)
class Update:
    """A mutable variable: `target = value`, or `target += value` when `accumulate` (adjoint accumulators)."""

    target: sp.Symbol
    value: sp.Expr
    accumulate: bool = False


@dataclass(frozen=True)
class Push:
    """Record a value on a tape in the forward sweep."""

    tape: str
    value: sp.Expr


@dataclass(frozen=True)
class Pop:
    """Take the last recorded value off a tape in the reverse sweep."""

    tape: str
    target: sp.Symbol


@dataclass
class ReverseLoop:
    """The iterations of `loop`, last first; skipped whole while `unless_zero` (an adjoint that scales every
    contribution the sweep makes) is zero, as it is for an inactive ReLU or hinge."""

    loop: Loop
    body: list
    unless_zero: Optional[sp.Symbol] = None
    any_order: bool = False  # the iterations only add into adjoints: run them first to last (vectorises)


@dataclass
class Program:
    name: str
    arguments: list
    body: list
    outputs: list  # one expression per returned value (a tuple return gives several)
    filename: str = "<unknown>"
    line: int = 0
    # `(condition, message)`: sizes the NumPy lowering could not prove equal (`X @ w`: X's columns and w's
    # length); the kernels raise ValueError(message) at entry, before anything runs, when one fails.
    shape_checks: list = field(default_factory=list)
    # A function returning an array (`sg.jacobian`): outputs[0] is the label of the local array it returns and this
    # its shape, in the arguments' sizes and int arguments; None when the outputs are numbers.
    output_shape: Optional[tuple] = None
    # Module-level values (symgrad/module_values.py): the path of each array passed as one of the last arguments,
    # and `(path, description)` of each number folded in, which the call path checks.
    passed_globals: list = field(default_factory=list)
    folded_globals: list = field(default_factory=list)

    def argument(self, name):
        return next(a for a in self.arguments if a.name == name)


@dataclass
class Derivative:
    """A program together with the statements of its gradient, produced by reverse mode.

    `forward` is the program's body with the tape records the reverse sweep needs; `adjoint` runs after it;
    `gradients[k]` is d(output)/d(wrt[k]) (an array symbol for an array argument); `adjoint_of` maps each
    forward symbol whose adjoint got a name to that name (display writes them as bars); `tapes` maps the name
    of each tape the kernels allocate to the number of records it will hold (None when unknown at entry)."""

    program: Program
    wrt: list
    forward: list
    adjoint: list
    gradients: list
    adjoint_of: dict = field(default_factory=dict)
    tapes: dict = field(default_factory=dict)
    mode: str = "reverse"  # or "forward": tangents carried in `forward`, no adjoint statements


def walk(statements):
    """Every statement, and every statement inside loops, reverse sweeps and `When`s, in program order."""
    for statement in statements:
        yield statement
        if isinstance(statement, (Loop, ReverseLoop, When)):
            yield from walk(statement.body)


def rebuilt(value, change):
    """`value` (a statement, a list of them, or an expression) rebuilt from the inside out, `change` tried on each part
    first: what it returns replaces the part, None means look inside (an expression is then left as it is)."""
    changed = change(value)
    if changed is not None:
        return changed
    if isinstance(value, (list, tuple)):
        return type(value)(rebuilt(item, change) for item in value)
    if dataclasses.is_dataclass(value):
        return dataclasses.replace(value, **{f.name: rebuilt(getattr(value, f.name), change)
                                             for f in dataclasses.fields(value)})
    return value


def mentions(node, label):
    """Whether anything inside `node` (a statement, a list of them, an expression or a field of one) names the
    symbol `label`: a read, a store, an index, a bound, a condition."""
    if isinstance(node, sp.Basic):
        return node == label or label in node.free_symbols
    if isinstance(node, (list, tuple)):
        return any(mentions(n, label) for n in node)
    if isinstance(node, dict):
        return any(mentions(k, label) or mentions(v, label) for k, v in node.items())
    if dataclasses.is_dataclass(node):
        return any(mentions(getattr(node, f.name), label) for f in dataclasses.fields(node))
    return False


def overwritten_first(statements, allocate):
    """Whether `statements` never read what the 1-D array `allocate` made held before them: the first one that
    touches the array is a loop over ``range(0, size)`` whose body stores each element at the loop's index (`=`,
    not `+=`, at the top of the body, so on every iteration) and touches the array nowhere else."""
    label = allocate.base.label
    first = next((s for s in statements if mentions(s, label)), None)
    if len(allocate.shape) != 1 or not (isinstance(first, Loop) and first.start == 0 and first.step == 1
                                        and first.stop == allocate.shape[0]) or mentions(first.carried, label):
        return False
    touching = [s for s in first.body if mentions(s, label)]
    return len(touching) == 1 and isinstance(touching[0], Store) and not touching[0].accumulate and \
        touching[0].indices == (first.index,) and not mentions(touching[0].value, label)


def expressions(statements):
    """Every expression `statements` (each already walked into) evaluate: values, indices, guards, conditions,
    bounds and carried values."""
    for s in statements:
        if isinstance(s, (Assign, Update, Push, Store)):
            yield s.value
        if isinstance(s, Store):
            yield from s.indices
        if isinstance(s, Assign):
            yield s.guard
        if isinstance(s, (When, Check)):
            yield s.condition
        if isinstance(s, (Loop, ReverseLoop)):
            loop = s.loop if isinstance(s, ReverseLoop) else s
            yield from (loop.start, loop.stop, loop.step)
            yield from (e for c in loop.carried for e in (c.initial, c.next))
