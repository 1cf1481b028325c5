"""Display: the function and its partials as LaTeX and as terminal text.

Small straight-line functions are shown in closed form: the SSA program is inlined and, when short enough,
simplified.  When inlining would be too large (a long chain reuses each value several times, so its closed form
grows exponentially), the statements are shown as shared definitions (``x_1 = ...``) with the adjoint update
equations (``\\bar{x} = ...``) over them.  Programs with loops show reductions as sums (``\\sum_i``) and other
loops as recurrences, and the gradient as the adjoint updates each iteration makes, last iteration first.
"""

import ctypes
import itertools
import re
import threading
from dataclasses import dataclass

import numpy as np
import sympy as sp

from sympy.printing.conventions import split_super_sub
from sympy.printing.pretty.pretty import PrettyPrinter
from sympy.printing.pretty.pretty_symbology import pretty_use_unicode
from sympy.printing.pretty.stringpict import prettyForm, stringPict

from .ir import Allocate, Assign, Loop, Pop, ReverseLoop, Store, Update
from .reverse import simplest_rational, tree_size
from .rules import RULES

CLOSED_FORM_LIMIT = 400  # nodes in an inlined expression tree beyond which definitions are shown instead


@dataclass
class Rendering:
    latex: str
    text: str
    expressions: dict


def textbook(expr):
    """Rewrite nodes whose SymPy spelling is odd (expm1, log1p, hypot) into textbook notation, and whole
    floats (`2.0`) as integers."""
    expr = expr.xreplace({f: sp.Integer(int(f)) for f in expr.atoms(sp.Float) if f == int(f)})
    for rule in RULES:
        if rule.readable is not None and expr.has(rule.node):
            expr = expr.replace(lambda e, node=rule.node: isinstance(e, node), lambda e, r=rule: r.readable(*e.args))
    return expr


def _tidy(expr):
    """A closed form made readable: textbook notation, cases folded outwards, each case simplified (rationally:
    sympy.simplify of a Piecewise can take minutes)."""
    expr = textbook(expr)
    if expr.has(sp.Piecewise):
        expr = sp.piecewise_fold(expr)
    if isinstance(expr, sp.Piecewise):
        return sp.Piecewise(*[(textbook(simplest_rational(value)), condition) for value, condition in expr.args])
    return textbook(simplest_rational(expr))


def _function_latex(name):
    return name if len(name) == 1 else r"\operatorname{%s}" % name.replace("_", r"\_")


def render(derivative, closed_form=True):
    """LaTeX, terminal text and the named SymPy expressions of a derivative; ``closed_form=False`` shows the
    statements as definitions even when the closed form would be small."""
    program = derivative.program
    if not all(isinstance(s, Assign) for s in program.body + derivative.adjoint):
        return _render_loops(derivative)
    statements = derivative.forward + derivative.adjoint
    sizes = {}
    for statement in statements:
        sizes[statement.target] = tree_size(statement.value, sizes)
    results = program.outputs + derivative.gradients
    name = program.name
    head = f"{name}({', '.join(a.name for a in program.arguments)})"
    value_names = [name] if len(program.outputs) == 1 else [f"{name}[{k}]" for k in range(len(program.outputs))]
    partial_names = [f"d{name}/d{w}" for w in derivative.wrt]

    bars = {bar: r"\bar{%s}" % sp.latex(symbol) for symbol, bar in derivative.adjoint_of.items()}
    latex_of = lambda e: sp.latex(textbook(e), symbol_names=bars, full_prec=False)  # noqa: E731
    lines, text_lines, expressions = [], [], {}
    if closed_form and all(tree_size(r, sizes) <= CLOSED_FORM_LIMIT for r in results):
        inlined = {}
        for statement in statements:
            inlined[statement.target] = statement.value.xreplace(inlined)
        closed = [_tidy(sp.sympify(r).xreplace(inlined)) for r in results]
        values, partials = closed[:len(program.outputs)], closed[len(program.outputs):]
    else:
        for statement in statements:
            expressions[statement.target.name] = statement.value
            lines.append(f"{latex_of(statement.target)} &= {latex_of(textbook(statement.value))}")
            text_lines.append(f"{statement.target.name} = {textbook(statement.value)}")
        values, partials = program.outputs, derivative.gradients
    fname = _function_latex(name)
    arguments = ", ".join(sp.latex(a.symbol) for a in program.arguments)
    for label, value in zip(value_names, values):
        expressions[label] = value
        lines.append(f"{fname}({arguments}) &= {latex_of(value)}" if label == name
                     else f"{fname}_{{{label[len(name) + 1:-1]}}}({arguments}) &= {latex_of(value)}")
        text_lines.append(f"{head if label == name else label} = {value}")
    for label, argument, value in zip(partial_names, derivative.wrt, partials):
        expressions[label] = value
        symbol = sp.latex(program.argument(argument).symbol)
        lines.append(rf"\frac{{\partial {fname}}}{{\partial {symbol}}} &= {latex_of(value)}")
        text_lines.append(f"{label} = {value}")
    latex = "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"
    return Rendering(latex, "\n".join(text_lines), expressions)


# --- programs with loops ------------------------------------------------------------------------------------
_BAR_SUFFIXES = {"": "", "_sum": r"^{\Sigma}", "_next": "'", "_at": "_{at}"}  # `_at`: one element, not the array
SIZE_LETTERS = "NMK"  # an array's sizes, by axis: N_x, M_A, K_A
_BAR_NAME = re.compile(r"^(.*?)_bar(_sum|_next|_at)?\d*$")  # the names reverse mode gives adjoints
_DOT_NAME = re.compile(r"^(.*?)_dot_(.+?)\d*$")  # the names forward mode gives tangents


def _bar_names(statements, arguments):
    """LaTeX names for the adjoint symbols reverse mode made (`x_bar` -> \\bar{x}), and array sizes."""
    names = {size: r"%s_{%s}" % (SIZE_LETTERS[axis], sp.latex(a.symbol))
             for a in arguments for axis, size in enumerate(a.shape)}
    for symbol in set().union(*(_symbols(s) for s in statements)):
        tangent = _DOT_NAME.match(symbol.name)
        if tangent:
            names[symbol] = r"\frac{\partial %s}{\partial %s}" % (sp.latex(sp.Symbol(tangent.group(1))),
                                                                  sp.latex(sp.Symbol(tangent.group(2))))
            continue
        match = _BAR_NAME.match(symbol.name)
        if match:
            base, suffix = match.group(1), match.group(2) or ""
            names[symbol] = r"\bar{%s}%s" % (sp.latex(sp.Symbol(base)), _BAR_SUFFIXES[suffix])
    return names


def _symbols(statement):
    symbols = set()
    for attribute in ("target", "value"):
        value = getattr(statement, attribute, None)
        if isinstance(value, sp.Basic):
            symbols |= value.free_symbols | {i.base.label for i in value.atoms(sp.Indexed)}
    if isinstance(statement, (Store, Allocate)):
        symbols.add(statement.base.label)
    for inner in getattr(statement, "body", []):
        symbols |= _symbols(inner)
    return symbols


def as_sum(loop, definitions):
    """A reduction loop as `initial + Sum(term, (i, start, stop - 1))`, or None when it is not one."""
    if len(loop.carried) != 1 or loop.step != 1:
        return None
    carried = loop.carried[0]
    inlined = dict(definitions)
    for statement in loop.body:
        if isinstance(statement, Assign):
            inlined[statement.target] = statement.value.xreplace(inlined)
        elif isinstance(statement, Loop) and as_sum(statement, inlined) is not None:
            inlined[statement.carried[0].result] = as_sum(statement, inlined)
        else:
            return None
    following = carried.next.xreplace(inlined)
    term = following - carried.phi
    if not following.has(carried.phi) or term.has(carried.phi):
        return None
    return carried.initial.xreplace(inlined) + sp.Sum(sp.factor_terms(term), (loop.index, loop.start, loop.stop - 1))


class _Listing:
    """Lines of an aligned LaTeX block and of plain text, with indentation for loop bodies."""

    def __init__(self, names, inline, needed=frozenset()):
        self.names = names
        self.inline = inline
        self.needed = needed  # symbols the adjoint reads: a loop defining one is listed, not folded into a sum
        self.restored = set()  # values taken off a tape only to restore an overwritten array element
        self.latex, self.text = [], []

    def tex(self, expr):
        if isinstance(expr, sp.Expr):
            expr = textbook(expr.xreplace(self.inline))
        return sp.latex(expr, symbol_names=self.names, full_prec=False)

    def add(self, depth, left, operator, right, left_text, operator_text, right_text):
        self.latex.append(r"%s%s &%s %s" % (r"\quad " * depth, left, operator, right))
        self.text.append(f"{'    ' * depth}{left_text} {operator_text} {right_text}")

    def equation(self, depth, target, operator, value, operator_text):
        shown = textbook(value.xreplace(self.inline)) if isinstance(value, sp.Expr) else value
        self.add(depth, self.tex(target), operator, self.tex(value), str(target), operator_text, str(shown))

    def header(self, depth, index, first, last):
        self.latex.append(r"%s&\textbf{for } %s = %s, \ldots, %s:" % (
            r"\quad " * depth, self.tex(index), self.tex(first), self.tex(last)))
        self.text.append(f"{'    ' * depth}for {index} = {first} ... {last}:")

    def statements(self, statements, depth, skip=frozenset()):
        for s in statements:
            if isinstance(s, Pop):
                self.restored.add(s.target)
            if id(s) in skip or isinstance(s, Pop) or (isinstance(s, Store) and s.value in self.restored):
                continue
            if isinstance(s, Assign):
                self.equation(depth, s.target, "=", s.value, "=")
            elif isinstance(s, Update):
                self.equation(depth, s.target, r"\mathrel{+}=" if s.accumulate else "=", s.value,
                              "+=" if s.accumulate else "=")
            elif isinstance(s, Store):
                element = sp.Indexed(s.base, *s.indices)
                self.equation(depth, element, r"\mathrel{+}=" if s.accumulate else r"\leftarrow", s.value,
                              "+=" if s.accumulate else "<-")
            elif isinstance(s, Allocate):
                self.equation(depth, s.base.label, "=", sp.Integer(0), "=")
            elif isinstance(s, Loop):
                self.loop(s, depth)
            elif isinstance(s, ReverseLoop):
                loop = s.loop
                self.header(depth, loop.index, loop.stop - loop.step, loop.start)
                self.statements(s.body, depth + 1, skip)

    def loop(self, loop, depth):
        total = None if self.needed & _defined_inside(loop) else as_sum(loop, {})
        if total is not None:
            self.equation(depth, loop.carried[0].result, "=", total, "=")
            return
        for carried in loop.carried:
            self.equation(depth, carried.phi, "=", carried.initial, "=")
        self.header(depth, loop.index, loop.start, loop.stop - loop.step)
        self.statements(loop.body, depth + 1)
        for carried in loop.carried:
            self.equation(depth + 1, carried.phi, r"\leftarrow", carried.next, "<-")
        for carried in loop.carried:
            self.equation(depth, carried.result, "=", carried.phi, "=")


def _defined_inside(loop):
    """The symbols a loop defines that a sum would hide: its carried values inside and everything its body
    assigns, nested loops included."""
    defined = {carried.phi for carried in loop.carried}
    for s in loop.body:
        if isinstance(s, Assign):
            defined.add(s.target)
        elif isinstance(s, Loop):
            defined |= _defined_inside(s) | {carried.result for carried in s.carried}
    return defined


def _read(statements, skip, inline):
    """The symbols the listed statements read (after the parts shown inline are substituted)."""
    read = set()
    for s in statements:
        if id(s) in skip or isinstance(s, Pop):
            continue
        for value in (getattr(s, "value", None), *getattr(s, "indices", ())):
            if isinstance(value, sp.Basic):
                value = value.xreplace(inline)
                read |= value.free_symbols | {i.base.label for i in value.atoms(sp.Indexed)}
        read |= _read(getattr(s, "body", []), skip, inline)
    return read


def _forward_statements(statements):
    """Every forward statement object, so that the reverse sweep's recomputations can be left out."""
    found = set()
    for s in statements:
        found.add(id(s))
        if isinstance(s, Loop):
            found |= _forward_statements(s.body)
    return found


def _parts(statements):
    """The values reverse mode named inside the forward statements, to be shown inline again."""
    parts = {}
    for s in statements:
        if isinstance(s, Assign) and s.target.name.rstrip("0123456789").endswith("_part"):
            parts[s.target] = s.value.xreplace(parts)
        elif isinstance(s, Loop):
            parts.update(_parts(s.body))
    return parts


def _render_loops(derivative, listing_class=_Listing):
    program = derivative.program
    names = _bar_names(derivative.forward + derivative.adjoint, program.arguments)
    inline, skip = _parts(derivative.forward), _forward_statements(derivative.forward)
    results = set().union(*(sp.sympify(e).free_symbols for e in program.outputs + derivative.gradients))
    listing = listing_class(names, inline, _read(derivative.adjoint, skip, inline) | results)
    listing.statements(derivative.forward if derivative.mode == "forward" else program.body, 0)
    name = program.name
    fname = _function_latex(name)
    arguments = ", ".join(a.name for a in program.arguments)
    expressions = {}
    for k, output in enumerate(program.outputs):
        label = name if len(program.outputs) == 1 else f"{name}[{k}]"
        expressions[label] = output
        listing.add(0, f"{fname}({', '.join(sp.latex(a.symbol) for a in program.arguments)})", "=",
                    listing.tex(output), f"{name}({arguments})" if label == name else label, "=", str(output))
    listing.statements(derivative.adjoint, 0, skip=skip)
    for argument, gradient in zip(derivative.wrt, derivative.gradients):
        label = f"d{name}/d{argument}"
        expressions[label] = gradient
        symbol = sp.latex(program.argument(argument).symbol)
        listing.add(0, rf"\frac{{\partial {fname}}}{{\partial {symbol}}}", "=", listing.tex(gradient),
                    label, "=", str(gradient))
    latex = "\\begin{aligned}\n" + " \\\\\n".join(listing.latex) + "\n\\end{aligned}"
    return Rendering(latex, "\n".join(listing.text), expressions)


# --- SymPy's pretty printer, for terminals ----------------------------------------------------------------------
_SHAPE_NAME = re.compile(r"^(.*)_shape(\d)$")  # the names the frontend gives array sizes
_PARTIAL_LABEL = re.compile(r"^d(.+)/d(\w+)$")  # the labels of partials: "drosen/dx"
_PRETTY_BAR_SUFFIXES = {"": "", "_sum": "Σ", "_next": "'", "_at": "_at"}


class _PrettyPrinter(PrettyPrinter):
    """SymPy's pretty printer, with `max`/`min` for symgrad's tie-aware nodes and no line wrapping."""

    def __init__(self, use_unicode):
        super().__init__({"use_unicode": use_unicode, "wrap_line": False})

    def _print_Maximum(self, expr):
        return self._print_Function(expr, func_name="max")

    def _print_Minimum(self, expr):
        return self._print_Function(expr, func_name="min")


def _pretty_symbol(symbol, use_unicode):
    """The name a terminal shows for a symbol: sizes as N_x, adjoints overlined, tangents as ∂y/∂x."""
    name = symbol.name
    shape = _SHAPE_NAME.match(name)
    if shape:
        return sp.Symbol(f"{SIZE_LETTERS[int(shape.group(2))]}_{shape.group(1)}")
    if not use_unicode:
        return symbol
    tangent = _DOT_NAME.match(name)
    if tangent:
        return sp.Symbol(f"∂{tangent.group(1)}/∂{tangent.group(2)}")
    bar = _BAR_NAME.match(name)
    if bar:
        base, _, subscripts = split_super_sub(bar.group(1))
        overlined = "".join(c + "\u0305" for c in base) + _PRETTY_BAR_SUFFIXES[bar.group(2) or ""]
        return sp.Symbol("_".join([overlined, *subscripts]))
    return symbol


def _beside(*parts):
    """Pretty forms (or strings) side by side, on a common baseline."""
    forms = [part if isinstance(part, stringPict) else prettyForm(part) for part in parts]
    return prettyForm(*stringPict.next(*forms))


class _PrettyListing(_Listing):
    """A `_Listing` that draws each equation with SymPy's pretty printer instead of writing LaTeX."""

    def __init__(self, names, inline, needed=frozenset(), use_unicode=True):
        super().__init__(names, inline, needed)
        self.printer = _PrettyPrinter(use_unicode)
        self.use_unicode = use_unicode

    def tex(self, expr):
        return self.form(expr)

    def form(self, expr):
        """The pretty form of an expression, with the parts reverse mode named shown inline again."""
        if not isinstance(expr, sp.Basic):
            return prettyForm(str(expr))
        if isinstance(expr, sp.Expr):
            expr = textbook(expr.xreplace(self.inline))
        renamed = expr.xreplace({s: _pretty_symbol(s, self.use_unicode) for s in expr.atoms(sp.Symbol)})
        return self.printer._print(renamed)

    def label(self, text):
        """A label such as "drosen/dx" as the fraction ∂rosen/∂x; anything else as it is."""
        partial = _PARTIAL_LABEL.match(text)
        if not partial:
            return prettyForm(text)
        d = "∂" if self.use_unicode else "d"
        return prettyForm(d + partial.group(1)) / prettyForm(d + partial.group(2))

    def line(self, depth, *parts):
        self.text.append(_beside("    " * depth, *parts).render(wrap_line=False))

    def add(self, depth, left, operator, right, left_text, operator_text, right_text):
        self.line(depth, self.label(left_text), f" {operator_text} ", right)

    def equation(self, depth, target, operator, value, operator_text):
        self.line(depth, self.form(target), f" {operator_text} ", self.form(value))

    def header(self, depth, index, first, last):
        dots = "…" if self.use_unicode else "..."
        self.line(depth, "for ", self.form(index), " = ", self.form(first), f", {dots}, ", self.form(last), ":")


def pretty(derivative, rendering, use_unicode=True):
    """The function and its partials drawn by SymPy's pretty printer (2-D fractions, sums, cases), for a terminal.

    Straight-line functions show the closed forms (or definitions) of `rendering.expressions`; programs with loops
    show the listing `render` writes as LaTeX, one pretty-printed equation per line."""
    previous = pretty_use_unicode(use_unicode)  # SymPy's glyph tables read this global flag, not the printer's
    try:
        return _pretty(derivative, rendering, use_unicode)
    finally:
        pretty_use_unicode(previous)


def _pretty(derivative, rendering, use_unicode):
    program = derivative.program
    if not all(isinstance(s, Assign) for s in program.body + derivative.adjoint):
        return _render_loops(derivative, lambda *shared: _PrettyListing(*shared, use_unicode=use_unicode)).text
    listing = _PrettyListing({}, {}, use_unicode=use_unicode)
    for label, value in rendering.expressions.items():
        if label == program.name:
            left = prettyForm(f"{label}({', '.join(a.name for a in program.arguments)})")
        else:
            left = listing.label(label) if _PARTIAL_LABEL.match(label) else listing.form(sp.Symbol(label))
        listing.line(0, left, " = ", listing.form(value))
    separator = "\n\n" if any("\n" in block for block in listing.text) else "\n"
    return separator.join(listing.text)


# --- a time budget ---------------------------------------------------------------------------------------------
TIME_BUDGET = 10.0  # seconds the closed form may take (SymPy's simplification can take minutes on 4 lines)


class _OverBudget(BaseException):  # not an Exception: SymPy's own `except Exception` must not swallow it
    """Raised inside the rendering thread when its time is up."""


def render_within(derivative, seconds=None):
    """`render` with a deadline: past `seconds` (default TIME_BUDGET) the closed form is abandoned and the
    statement form is shown, with a note saying so."""
    outcome = []

    def attempt():
        try:
            outcome.append((True, render(derivative)))
        except _OverBudget:
            pass
        except Exception as error:  # noqa: BLE001 (handed to the caller below)
            outcome.append((False, error))

    seconds = TIME_BUDGET if seconds is None else seconds
    worker = threading.Thread(target=attempt, name="symgrad-display", daemon=True)
    worker.start()
    worker.join(seconds)
    if not worker.is_alive():
        succeeded, result = outcome[0]
        if not succeeded:
            raise result
        return result
    # SymPy is pure Python: the exception is raised in the worker at its next bytecode, which ends it.
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(worker.ident), ctypes.py_object(_OverBudget))
    statements = render(derivative, closed_form=False)
    note = f"closed form not shown: simplifying it took over {seconds:g} s"
    latex = statements.latex.replace("\\begin{aligned}\n", f"\\begin{{aligned}}\n&\\text{{({note})}} \\\\\n", 1)
    return Rendering(latex, f"({note})\n{statements.text}", statements.expressions)


# --- Hessians ---------------------------------------------------------------------------------------------------
MATRIX_LIMIT = 6  # a Hessian up to this many rows is shown as its matrix, a larger one by its entries' pattern
UNROLL_SIZE_LIMIT = 4000  # nodes in the unrolled value beyond which no matrix or entry formula is shown


class _TooLarge(Exception):
    """The unrolled program outgrew UNROLL_SIZE_LIMIT, or holds what the unroller does not follow."""


class _Unrolled:
    """A program run symbolically for given shapes and int arguments: loops unrolled, each array element a
    symbol (`x_3`), so that its value is one SymPy expression whose Hessian SymPy can take."""

    def __init__(self, program, values):
        self.env, self.arrays = {}, {}
        for argument, value in zip(program.arguments, values):
            if argument.kind == "int":
                self.env[argument.symbol] = sp.Integer(int(value))
            elif argument.kind == "float":
                self.env[argument.symbol] = argument.symbol
            else:  # (an array argument is described by its shape)
                shape = tuple(value)
                self.env.update({size: sp.Integer(k) for size, k in zip(argument.shape, shape)})
                self.arrays[argument.base.label] = {
                    index: sp.Symbol(f"{argument.name}_{{{','.join(map(str, index))}}}")
                    for index in itertools.product(*map(range, shape))}
        self.run(program.body)
        self.value = self.ev(program.outputs[0])

    def ev(self, expr):
        expr = sp.sympify(expr)
        reads = {}
        for read in expr.atoms(sp.Indexed):
            index = tuple(int(self.ev(i)) for i in read.indices)
            elements = self.arrays[read.base.label]
            size = max(elements)[0] + 1 if elements else 0
            index = (index[0] + size if index[0] < 0 else index[0],) + index[1:]
            reads[read] = elements.get(index, sp.Integer(0))
        value = expr.xreplace(reads).xreplace(self.env)
        if tree_size(value, {}) > UNROLL_SIZE_LIMIT:
            raise _TooLarge
        return value

    def run(self, statements):
        for statement in statements:
            if isinstance(statement, Assign):
                if statement.guard is not sp.true:
                    raise _TooLarge  # (a guarded statement: its branch is in the value's Piecewise already)
                self.env[statement.target] = self.ev(statement.value)
            elif isinstance(statement, Allocate):
                self.arrays[statement.base.label] = {index: sp.Integer(0) for index in itertools.product(
                    *(range(int(self.ev(k))) for k in statement.shape))}
            elif isinstance(statement, Store):
                index = tuple(int(self.ev(i)) for i in statement.indices)
                elements = self.arrays[statement.base.label]
                value = self.ev(statement.value)
                elements[index] = elements[index] + value if statement.accumulate else value
            elif isinstance(statement, Loop):
                for c in statement.carried:
                    self.env[c.phi] = self.ev(c.initial)
                bounds = (int(self.ev(statement.start)), int(self.ev(statement.stop)), int(self.ev(statement.step)))
                for k in range(*bounds):
                    self.env[statement.index] = sp.Integer(k)
                    self.run(statement.body)
                    following = [self.ev(c.next) for c in statement.carried]
                    for c, value in zip(statement.carried, following):
                        self.env[c.phi] = value
                for c in statement.carried:
                    self.env[c.result] = self.env[c.phi]
            else:
                raise _TooLarge


def _unrolled_hessian(program, wrt, values):
    """The Hessian of `program` w.r.t. `wrt` (float names, or one 1-D array name) at these shapes, as a SymPy
    Matrix with its variables, or None when the unrolled value is too large."""
    try:
        unrolled = _Unrolled(program, values)
    except (_TooLarge, KeyError, TypeError, ValueError):
        return None
    variables = []
    for name in wrt:
        argument = program.argument(name)
        elements = unrolled.arrays.get(argument.base.label, {}) if argument.base is not None else {}
        variables += [argument.symbol] if argument.base is None else [elements[k] for k in sorted(elements)]  # C order
    return sp.hessian(unrolled.value, variables).applyfunc(_tidy), variables


def _band_text(pairs, n):
    """The pattern of a Hessian's upper pairs in words and LaTeX: its diagonals (offsets j - i) when each is
    (nearly) full, else the count of entries."""
    offsets = np.unique(pairs[:, 1] - pairs[:, 0]) if len(pairs) else np.array([], dtype=np.int64)
    if len(offsets) and len(offsets) <= 4 and all(np.count_nonzero(pairs[:, 1] - pairs[:, 0] == d) >= n - d - 2
                                                   for d in offsets):
        names = {(0,): "diagonal", (0, 1): "tridiagonal", (0, 1, 2): "pentadiagonal"}
        kind = names.get(tuple(offsets), f"banded, offsets {', '.join(map(str, offsets))}")
        entries = ", ".join("H_{i,i}" if d == 0 else f"H_{{i,i+{d}}} = H_{{i+{d},i}}" for d in offsets)
        return kind, entries, offsets
    return f"{2 * len(pairs) - np.count_nonzero(pairs[:, 0] == pairs[:, 1])} structural nonzeros of {n * n}", \
        None, None


def hessian_latex(program, wrt, values=None, pairs=None, probe=None):
    """LaTeX lines of a Hessian: the matrix (``pmatrix``) when it has at most MATRIX_LIMIT rows at `values` (per
    argument: None for a float, the value of an int, the shape of an array), w.r.t. floats or one 1-D array; else,
    with the `pairs` of its pattern (sparsity.py), the pattern
    in words and, when the program's value at the shapes of `probe` unrolls, the entries of an interior row
    (checked to be the same formula one row further, shifted)."""
    name = _function_latex(program.name)
    array = len(wrt) == 1 and program.argument(wrt[0]).base is not None
    # (the matrix has a row per element: a 2-D array's in C order)
    size = int(np.prod(values[[a.name for a in program.arguments].index(wrt[0])])) if array and values else len(wrt)
    lines = []
    if values is not None and size <= MATRIX_LIMIT:
        unrolled = _unrolled_hessian(program, wrt, values)
        if unrolled is not None:
            matrix, variables = unrolled
            lines.append(rf"\nabla^2 {name} &= " + sp.latex(matrix, mat_str="pmatrix", mat_delim="") +
                         r" \quad \text{w.r.t. } (" + ", ".join(map(sp.latex, variables)) + ")")
    elif pairs is not None:
        n = size
        kind, entries, offsets = _band_text(pairs, n)
        listed = rf": \ {entries}; \text{{ every other entry is 0}}" if entries else ""
        lines.append(rf"&\text{{{kind} Hessian, ${n} \times {n}$}}" + listed)
        if offsets is not None and probe is not None:
            unrolled = _unrolled_hessian(program, wrt, probe)
            if unrolled is not None:
                matrix, variables = unrolled
                i = sp.Symbol("i", integer=True)
                x = program.argument(wrt[0]).name

                def shift(k):  # element m as x_{i + m - k}: row k read as row i
                    return {v: sp.Symbol(f"{x}_{{{sp.latex(i + (m - k))}}}") for m, v in enumerate(variables)}

                middle = len(variables) // 2
                rows = [[sp.expand(matrix[k, k + d].xreplace(shift(k))) for d in offsets if k + d < len(variables)]
                        for k in (middle - 1, middle)]
                if rows[0] == rows[1] and len(rows[1]) == len(offsets):
                    for d, entry in zip(offsets, rows[1]):
                        lines.append(rf"H_{{i,{sp.latex(i + int(d))}}} &= {sp.latex(textbook(entry))}")
                    lines.append(r"&\text{(rows away from the ends)}")
    return lines
