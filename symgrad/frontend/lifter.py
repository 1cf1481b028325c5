"""Parse: lift a Python function's source (``inspect`` + ``ast``) into a `Program`.

The lifter executes the function symbolically: every assignment of a non-trivial value becomes one SSA
`Assign`, helpers are inlined at their call sites, an ``if`` runs both branches and merges what they assign
into `Piecewise` values, and an early ``return`` runs the rest of the function on the other side of the branch.
Everything outside the subset in docs/language.md is refused with an `UnsupportedSyntaxError` at its line and column.
"""

import ast
import builtins
import contextlib
import dataclasses
import inspect
import math
import operator
import sys
import threading
import types
from dataclasses import dataclass

import numpy as np
import sympy as sp
from sympy.logic.boolalg import BooleanAtom

from .. import errors
from ..cache import IMPORTED, INLINE_ATTRIBUTE, describe_helper, describe_number, imported
from ..ir import ARRAY_KINDS, FLOAT, INDEX_KINDS, INT, Allocate, Argument, Assign, Carried, Loop, Program, Store, walk
from ..module_values import LIBRARIES, spelled
from ..rules import (FUNCTIONS_BY_OBJECT, RUNTIME_FUNCTIONS, AsFloat, AsIndex, FloorDivision, IntDiv, IntMod, Modulo,
                     PythonInt, element_reads, integer_valued, isnan, power, python_not, python_or,
                     python_piecewise)
from .comprehensions import COMPREHENSIONS, Comprehensions
from .desugar import COUNTED_WHILE
from .kinds import ARRAY_CONSTRUCTORS, ARRAY_LIKE_CONSTRUCTORS, infer_kinds, static_target
from .numpy_lowering import (REDUCING_FUNCTIONS, ArrayExpression, ArrayList, ArrayValue, MaskedArray,
                             FLOAT64, FLOAT_TYPES, FloatInfo, LoopAppend, NumpyLowering, as_condition, as_number,
                             composite, refusal, special_reduction, stats_refusal, trip_count)
from .gathers import MaskGathers
from .linear_algebra import LinearAlgebra
from .numpy_functions import MASK_OPERATORS, NumpyFunctions, in_place_method, numpy_method, scipy_function
from .numpy_series import NumpySeries
from .order_statistics import OrderStatistics
from .source import (COMPARISONS, PYTHON_COMPARISONS, Frame, constant_to_sympy, import_refusal, python_number,
                     read_source)

# Names the generated kernels use themselves; a user variable of that name gets another.
RESERVED_NAMES = frozenset({"math", "np", "prange", "ArrayIndexError", *RUNTIME_FUNCTIONS})

def _floor_division(a, b):
    return IntDiv(a, b) if a.is_integer and b.is_integer else FloorDivision(a, b)


def _modulo(a, b):
    return IntMod(a, b) if a.is_integer and b.is_integer else Modulo(a, b)


# The operators as Python computes them, for folding constants with Python's float64 semantics.
PYTHON_ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
                     ast.Pow: operator.pow, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}
# ... and as SymPy expressions over symbols.
ARITHMETIC = {**PYTHON_ARITHMETIC, ast.Pow: power, ast.FloorDiv: _floor_division, ast.Mod: _modulo}

UNROLL_LIMIT = 8  # literal loops of at most this many iterations (and no loop inside) are unrolled

# Refused statements and expressions: what to write instead.
REFUSED_STATEMENTS = {
    ast.While: "a `while` loop that is not counted (symgrad takes `while i < n:` with `i += 1`, or another integer "
               "step towards n, as the body's last statement and the only one changing i or n): for a loop that runs "
               "until a condition on the values holds, use `for _ in range(m)` with a fixed count m, its body under "
               "`if` the condition still fails, so that the values stop changing once it holds",
    ast.Break: "`break`: compute the value with a conditional expression instead of leaving the loop",
    ast.Continue: "`continue`: put the rest of the loop body under an `if`",
    ast.Try: "`try`: symgrad kernels cannot catch exceptions; check the arguments before the call",
    ast.With: "`with`: move the context manager outside the differentiated function",
    ast.Raise: "`raise`: check the arguments before calling the differentiated function",
    ast.Global: "`global`: pass the value as an argument",
    ast.Nonlocal: "`nonlocal`: pass the value as an argument and return the new one",
    ast.AsyncFunctionDef: "an `async def`: define a plain helper at module level",
    ast.ClassDef: "a class definition: define it at module level, outside the differentiated function",
    ast.Delete: "`del`: leave the variable alone; symgrad tracks values, not names",
}
REFUSED_EXPRESSIONS = {
    ast.Lambda: "a `lambda` that is not bound to a name: bind it first (`f = lambda t: t**2`, then `f(x)`), or "
                "define the helper with `def`",
    ast.List: "a list whose items are not all numbers or all arrays (a list of arrays is joined by np.stack, "
              "np.column_stack or np.concatenate): use separate variables, or pass an array argument",
    ast.Dict: "a dict: use separate scalar variables",
    ast.Set: "a set: use separate scalar variables",
    ast.ListComp: "a list comprehension: write the sum or product out, or use a `for` loop over scalars",
    ast.SetComp: "a set comprehension: use scalar variables",
    ast.DictComp: "a dict comprehension: use scalar variables",
    ast.GeneratorExp: "a generator expression: write the sum out, or use a `for` loop over scalars",
    ast.JoinedStr: "a string: symgrad differentiates numbers only",
    ast.Yield: "`yield`: return one value (or a tuple) instead",
    ast.YieldFrom: "`yield from`: return one value (or a tuple) instead",
    ast.Await: "`await`: call the coroutine outside the differentiated function",
    ast.NamedExpr: "an assignment expression (`:=`): assign in a statement of its own",
    ast.Starred: "a starred expression: pass the arguments one by one",
    ast.Slice: "a slice (a view of an array): index single elements in a `for` loop",
}


@dataclass(eq=False)
class LocalFunction:
    """A nested `def`: its definition, its signature (defaults evaluated where it was defined), its source for
    messages, and the frame of the function that defines it, whose variables it reads as they are when it is
    called (a closure, as in Python)."""

    definition: ast.FunctionDef
    signature: inspect.Signature
    source: object
    frame: object

    def enclosing_values(self):
        """The enclosing function's variables this helper sees: all but those it makes its own (its arguments
        and what it assigns); one the enclosing function assigns only later is undefined, as in Python."""
        own = {a.arg for a in ast.walk(self.definition.args) if isinstance(a, ast.arg)}
        own |= _assigned_names(self.definition.body) | {n.name for n in ast.walk(self.definition)
                                                        if isinstance(n, ast.FunctionDef) and n is not self.definition}
        enclosing = self.frame.source.definition
        later = _assigned_names(enclosing.body) | {a.arg for a in ast.walk(enclosing.args) if isinstance(a, ast.arg)}
        values = {name: value for name, value in self.frame.variables.items() if name not in own}
        values.update({name: _Undefined(name, f"is read by the nested helper {self.definition.name}() before "
                                              f"{enclosing.name}() assigns it: assign it before the call")
                       for name in later - own - set(values)})
        return values


class _Undefined:
    """A name with no value on some path: assigned on one side of an `if` only, or inside a loop only."""

    def __init__(self, name, advice):
        self.name = name
        self.advice = advice


@dataclass
class _Returned:
    value: object
    node: ast.AST  # the `return` (or the `if` whose sides return), for the line of the output's reads



def _assigned_names(statements):
    names = set()
    for statement in statements:
        for node in ast.walk(statement):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
    return names


class Lifter(Comprehensions, NumpyLowering, NumpyFunctions, NumpySeries, LinearAlgebra,
             MaskGathers, OrderStatistics):
    """Lifts one function (and the helpers it calls) into a Program; vectorised NumPy is lowered to loops by
    `NumpyLowering` and `NumpyFunctions`.  `observed` maps an argument to the number of axes of the array its first call passed,
    which decides its kind where the body does not."""

    def __init__(self, function, observed=None, array_output=False):
        self.function = function
        self.observed = observed or {}
        self.array_output = array_output  # a returned array is the output (sg.jacobian), not refused
        self.shape_checks = []  # sizes to check at entry (see numpy_lowering)
        self.integer_values = {}  # local int symbol -> its value, to state sizes in the arguments' terms
        # Float symbols that hold whole numbers (`whole_number`): a loop's carried counter (`k = 0`, then `k += 1`)
        # and the values computed from it; where one indexes, it is the index `AsIndex(k)`, checked at its use.
        self.whole = set()
        self.index_ranges = {}  # loop index -> (lowest, highest) value, to prove slice bounds inside the array
        self.python_lists = {}  # array made of a list display (`[a, b]`) -> its elements (see `python_list`)
        self.size_names = {}  # an argument's size symbol -> how the user writes it (len(x), X.shape[1])
        self.entry_symbols = set()  # what a kernel knows when it starts: int arguments and sizes
        self.parameters = []  # the function's own arguments, as lifted (`Argument`)
        self.single_reads = {}  # a function's definition -> the names it reads once (see `read_once`)
        self.carried_arrays = set()  # (frame, name) of the arrays the loops being lifted carry (see `histories`)
        self.passed_globals = {}  # path -> ArrayValue of each module-level array read (see `module_array`)
        self.passed_arguments = []  # their kernel arguments, after the user's
        self.folded_globals = {}  # path -> description of each module-level number folded in
        self.body = []
        self.guard = sp.true
        self.used_names = set(RESERVED_NAMES)
        self.source_names = {}  # fresh SSA name -> the name it was made for (`loss_3` -> `loss`), for messages
        self.inlining = []
        self.frame = None
        self.outer_frames = []  # the frames of the functions whose calls are being lifted, outermost first
        self.discarded_call = None  # the call of the last helper called as a statement
        self.loop_depth = 0
        self.name_hint = "array"
        self.mask_arrays = set()  # the local arrays written from conditions (see `mask_element`)
        self.stores = {}  # a local array's base -> how many stores into it were lifted so far
        self.factorizations = {}  # (block, guard, base, stores) -> the LU factors of that array (`pivoted_factors`)
        self.gathers = {}  # the stand-in size of a mask gather -> its Gather (see gathers.py)
        self.chosen_arrays = []  # arrays an `if` chose between names of other arrays (see `in_place_aliases`)
        self.gather_keys = {}  # (the mask's spelling, its names' values, the stores before) -> its stand-in size
        self.gather_copies = set()  # the local arrays a gather copied its array and mask into
        self.masked_gather = None  # (mask spelling, mask, stand-in shape) inside the value of `out[m] = ...`

    # --- emission -------------------------------------------------------------------------------------
    def fresh(self, name, **assumptions):
        candidate, k = name, 0
        while candidate in self.used_names:
            k += 1
            candidate = f"{name}_{k}"
        self.used_names.add(candidate)
        self.source_names[candidate] = name
        return sp.Symbol(candidate, **(assumptions or {"real": True}))

    def line(self, node):
        return self.frame.source.first_line + getattr(node, "lineno", 1) - 1

    def assign(self, name, value, node, taped=False, probe=False):
        """Bind a value to a fresh SSA symbol; atoms (symbols, numbers), tuples and arrays are bound as they are.
        With `probe`, the array reads of the value are made even where nothing uses it (see `probe_lost`)."""
        if isinstance(value, tuple):  # (a named result, slogdet's, stays one)
            return type(value)(*(self.assign(name, v, node, probe=probe) for v in value)) if hasattr(
                value, "_fields") else tuple(self.assign(name, v, node, probe=probe) for v in value)
        if isinstance(value, ArrayExpression):
            return self.materialized(value, name, node)
        if isinstance(value, MaskedArray):  # (its data computed once, as np.ma.array of a computed value is)
            return MaskedArray(self.expression(self.materialized(value.data, name, node), node), value.masked)
        if isinstance(value, (ArrayValue, BooleanAtom)) or value.is_Symbol or value.is_number:
            return value  # (True and False stay literals: `c, lower = cho_factor(K)` passes `lower` as a flag)
        symbol = self.fresh(name, integer=True) if integer_valued(value) else self.fresh(name)
        if symbol.is_integer:
            self.integer_values[symbol] = value
        elif self.whole_number(value):
            self.whole.add(symbol)
        self.body.append(Assign(symbol, value, self.guard, self.line(node), taped, probe and value.has(sp.Indexed)))
        return symbol

    def whole_number(self, value):
        """Whether `value` is a whole number by construction: integer arithmetic (+, -, *, //, %) on ints and on
        floats known to hold whole numbers (`self.whole`), at least one of them such a float."""
        floats = {s for s in value.free_symbols if not s.is_integer}
        if not floats or not floats <= self.whole or value.has(sp.Indexed):
            return False
        value = value.xreplace({s: sp.Dummy(integer=True) for s in floats}).replace(
            lambda e: isinstance(e, (Modulo, FloorDivision)) and all(integer_valued(a) for a in e.args),
            lambda e: (IntMod if isinstance(e, Modulo) else IntDiv)(*e.args))
        return integer_valued(value)

    @contextlib.contextmanager
    def guarded(self, condition):
        outer = self.guard
        self.guard = sp.And(outer, condition)
        try:
            yield
        finally:
            self.guard = outer

    @contextlib.contextmanager
    def nested_block(self):
        """Collect the statements lifted inside into a list of their own (a loop body)."""
        outer = self.body
        self.body = []
        self.loop_depth += 1
        self.frame.loops += 1
        try:
            yield self.body
        finally:
            self.body = outer
            self.loop_depth -= 1
            self.frame.loops -= 1

    def error(self, kind, node, message):
        return self.frame.source.error(kind, node, message)

    def rank_error(self, kind, node, message):
        """A refusal of what an array of the rank the first call passed does (np.dot of a 3-D array): it stands,
        where another refusal gives way to the call's TypeError about that rank (`_lifted_for_ranks`)."""
        error = self.error(kind, node, message)
        error.refuses_the_observed_rank = True
        return error

    # --- functions ------------------------------------------------------------------------------------
    def lift(self):
        source = read_source(self.function)
        kinds = infer_kinds(source, observed=self.observed)
        arguments = self.parameters
        self.used_names |= {parameter.arg for parameter in self._parameters(source)}  # kept as they are
        for parameter in self._parameters(source):
            if parameter.arg in RESERVED_NAMES:
                raise source.error(errors.UnsupportedSyntaxError, parameter,
                                   f"an argument may not be called {parameter.arg!r} (a name the kernels use): "
                                   "rename it")
            arguments.append(self._argument(parameter.arg, kinds[parameter.arg]))
            argument = arguments[-1]
            self.entry_symbols |= set(argument.shape) | ({argument.symbol} if argument.kind == INT else set())
            self.size_names.update({size: sp.Symbol(f"len({argument.name})" if len(argument.shape) == 1
                                                    else f"{argument.name}.shape[{k}]")
                                    for k, size in enumerate(argument.shape)})
        name = self.function.__name__
        variables = {a.name: ArrayValue(a.base, a.shape, False) if a.base is not None else a.symbol for a in arguments}
        with self.entered(source, variables, ()):
            returned = self.run_body()
            result, node = returned.value, returned.node
            output_shape = None
            if isinstance(result, tuple):
                outputs = [self.assign(f"{name}_{k}", value, node) for k, value in enumerate(result)]
            elif self.is_array(result):
                array, output_shape = self.output_array(result, name, node)
                outputs = [array.base.label]
            else:
                outputs = [self.assign(name, self.number(result, node), node)]
        self.misused_gathers(self.body)
        return Program(name, arguments + self.passed_arguments, self.body, outputs, source.filename,
                       source.first_line, self.shape_checks, output_shape, list(self.passed_globals),
                       list(self.folded_globals.items()))

    def output_array(self, value, name, node):
        """A returned array as a local array the kernels return, and its shape in terms of what the kernels know
        at entry (the arguments' sizes and int arguments): an output whose size the data decide is refused."""
        if not (isinstance(value, ArrayValue) and value.local):  # (an argument's array, or a view, is copied)
            expression = self.expression(value, node)
            value = self.allocate(expression.shape, node, f"{name}_output")
            self.loop_nest(value.shape, lambda indices: self.store(value, indices, as_number(expression.at(indices)),
                                                                  False, node), node)
        shape = tuple(self.resolved_size(size) for size in value.shape)
        if not all(size.free_symbols <= self.entry_symbols for size in shape):
            raise self.error(errors.UnsupportedStatementError, node,
                             f"the returned array's shape ({', '.join(map(self.shape_text, shape))}) depends on values "
                             "computed in the function: its size must follow from the arguments' sizes and int "
                             "arguments")
        return value, shape

    def _argument(self, name, kind):
        if kind == FLOAT:
            return Argument(name, sp.Symbol(name, real=True))
        if kind == INT:
            return Argument(name, sp.Symbol(name, integer=True), INT)
        label = sp.Symbol(name, integer=True) if kind in INDEX_KINDS else sp.Symbol(name, real=True)
        ndim = {**ARRAY_KINDS, **INDEX_KINDS}[kind]
        shape = tuple(self.fresh(f"{name}_shape{k}", integer=True, nonnegative=True) for k in range(ndim))
        return Argument(name, label, kind, sp.IndexedBase(label, shape=shape), shape)

    def _parameters(self, source):
        spec = source.definition.args
        for extra, what in ((spec.vararg, "*args"), (spec.kwarg, "**kwargs")):
            if extra is not None:
                raise source.error(errors.UnsupportedSyntaxError, extra,
                                   f"{what} in a differentiated function: name each argument")
        return spec.posonlyargs + spec.args + spec.kwonlyargs

    @contextlib.contextmanager
    def entered(self, source, variables, path, callee=None):
        """Lift statements of `source`'s function (or of `callee`, a nested `def` in it), with `variables` as its
        locals; `path` as in `Frame`."""
        outer = self.frame
        self.frame = Frame(source, variables, path)
        self.inlining.append(callee or source.function)
        self.outer_frames.append(outer)
        try:
            yield
        finally:
            self.outer_frames.pop()
            self.inlining.pop()
            self.frame = outer

    def run_body(self):
        definition = self.frame.source.definition
        returned = self.run_block(definition.body)
        if returned is None:
            raise self.error(errors.MissingReturnError, definition,
                             f"{definition.name}() can reach its end without `return`: "
                             "end every path with `return <expression>`")
        return returned

    def inline(self, function, node, args, keywords):
        """A call of a helper (a module-level function, or a nested `def`: a `LocalFunction`), lifted in place."""
        local = isinstance(function, LocalFunction)
        name = function.definition.name if local else function.__name__
        if any(function is callee for callee in self.inlining):
            raise self.error(errors.RecursionNotSupportedError, node,
                             f"recursive call to {name}(): write the recursion as a `for` loop")
        try:
            bound = (function.signature if local else inspect.signature(function)).bind(*args, **keywords)
        except TypeError as exc:
            raise self.error(errors.UnsupportedCallError, node, f"call to {name}(): {exc}") from None
        bound.apply_defaults()
        variables = function.enclosing_values() if local else {}
        for parameter, value in bound.arguments.items():
            if isinstance(value, (ArrayList, FloatInfo, LocalFunction) + FUNCTION_VALUES) or value is FLOAT64:  # (a
                # list of arrays, a type, a function such as nonlinearity=np.tanh)
                variables[parameter] = value
                continue
            if not isinstance(value, (sp.Basic, tuple, ArrayValue, ArrayExpression, MaskedArray)):
                value = constant_to_sympy(value)
                if value is None:
                    raise self.error(errors.UnsupportedCallError, node,
                                     f"{name}() has a default for {parameter!r} that is not a number")
            variables[parameter] = self.assign(parameter, value, node, probe=True)  # Python evaluates every argument
        source, path = (function.source, function.frame.path) if local else (read_source(function),
                                                                            self.outside_path(node.func))
        if not local and path is not None:  # (checked at each call as a number is: a rebound helper derives again)
            self.folded_globals[path] = describe_helper(function)
        with self.entered(source, variables, path, function):
            self.frame.passed_lists = tuple(v for v in variables.values() if isinstance(v, (ArrayList, LoopAppend))
                                            or isinstance(v, ArrayValue) and v in self.python_lists)
            if node is self.discarded_call:  # (called as a statement, for what it updates: a `return` may lack)
                self.run_block(self.frame.source.definition.body)
                return None
            return self.run_body().value

    def define(self, node):
        """A nested `def`: a `LocalFunction` bound to its name, inlined where it is called.  Its defaults are
        evaluated here, as Python does."""
        spec = node.args
        refused = ("a decorator" if node.decorator_list else "*args" if spec.vararg else "**kwargs" if spec.kwarg
                   else None)
        if refused:
            raise self.error(errors.UnsupportedStatementError, node,
                             f"a nested `def` with {refused}: symgrad inlines nested helpers with plain arguments; "
                             "drop it, or define the helper at module level and see docs/language.md")
        positional = spec.posonlyargs + spec.args
        defaults = [None] * (len(positional) - len(spec.defaults)) + [self.value(d) for d in spec.defaults]
        parameters = [inspect.Parameter(a.arg, inspect.Parameter.POSITIONAL_ONLY if a in spec.posonlyargs
                                        else inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                        default=inspect.Parameter.empty if d is None else d)
                      for a, d in zip(positional, defaults)]
        parameters += [inspect.Parameter(a.arg, inspect.Parameter.KEYWORD_ONLY, default=inspect.Parameter.empty
                                         if d is None else self.value(d))
                       for a, d in zip(spec.kwonlyargs, spec.kw_defaults)]
        source = dataclasses.replace(self.frame.source, definition=node)
        self.frame.variables[node.name] = LocalFunction(node, inspect.Signature(parameters), source, self.frame)

    def outside_path(self, node):
        """The path (see `Frame`) of what a name or an attribute chain reads from outside the function (a global,
        a closure variable, a module attribute), or None for a local value or another expression."""
        chain = []
        while isinstance(node, ast.Attribute):
            chain.insert(0, node.attr)
            node = node.value
        if not isinstance(node, ast.Name) or node.id in self.frame.variables:
            return None
        return self.frame.global_path(node.id, *chain)

    # --- statements -----------------------------------------------------------------------------------
    def run_block(self, statements):
        """Run statements in order; a `_Returned` when every path through them returns, else None."""
        for index, statement in enumerate(statements):
            if isinstance(statement, ast.Return):
                if self.frame.loops:
                    raise self.error(errors.UnsupportedStatementError, statement,
                                     "`return` inside a `for` loop: assign to a variable and return after the loop")
                return _Returned(self.return_value(statement), statement)
            if isinstance(statement, ast.If) and _contains_return(statement):
                return self.run_returning_if(statement, statements[index + 1:])
            self.statement(statement)
        return None

    def statement(self, node):
        if isinstance(node, ast.Assign):
            targets = node.targets
            mask = self.store_mask(targets[0]) if len(targets) == 1 else None
            if mask is not None:  # (`out[m] = f(x[m])`: its value is lifted through the mask)
                self.masked_store(targets[0], mask, node)
                return
            self.name_hint = targets[0].id if isinstance(targets[0], ast.Name) else "array"
            value = self.value(node.value)
            for target in targets:
                self.bind(target, value, node)
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            self.bind(node.target, self.value(node.value), node)
        elif isinstance(node, ast.AugAssign):
            self.augmented(node)
        elif isinstance(node, ast.If):
            self.run_branches(node)
        elif isinstance(node, ast.For):
            self.loop(node)
        elif isinstance(node, ast.Expr) and self.is_append(node.value):
            self.appended(node)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and (method := in_place_method(
                static_target(self.frame, node.value.func))):
            getattr(self, method)(node.value)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and self.is_helper(node.value.func):
            self.discarded_call = node.value  # (a helper called for what it updates in place: `scale_(y, c)`)
            self.value(node.value)
        elif isinstance(node, ast.Expr):
            if type(node.value) in REFUSED_EXPRESSIONS:
                self.value(node.value)  # refused with its own message (`yield`, `await`, ...)
            if isinstance(node.value, ast.Call):
                raise self.error(errors.UnsupportedStatementError, node,
                                 f"a call whose value is thrown away ({ast.unparse(node.value.func)}(...) as a "
                                 "statement): symgrad compiles what functions return, not their side effects: "
                                 "return the value and use it; where the call writes into an array (np.copyto, "
                                 "x.fill, x.sort), write the stores as assignments (y[:] = v, y[i] = v); a call "
                                 "made only to print or log can be removed")
            if not (isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
                raise self.error(errors.UnsupportedStatementError, node,
                                 "an expression statement (its value is thrown away): assign the value or remove "
                                 "the line")
        elif isinstance(node, (ast.Pass, ast.Assert)):
            pass  # asserts are not differentiated and not compiled
        elif isinstance(node, (ast.Import, ast.ImportFrom)):  # (what it binds is bound for the whole body: `Frame`)
            refusal = import_refusal(node)
            if refusal:
                raise self.error(errors.UnsupportedStatementError, node, refusal)
        elif isinstance(node, ast.FunctionDef):
            self.define(node)
        else:
            reason = REFUSED_STATEMENTS.get(type(node), f"the statement {type(node).__name__}")
            raise self.error(errors.UnsupportedStatementError, node, f"unsupported: {reason}")

    def is_helper(self, func):
        """Whether a call's function is a Python function symgrad inlines (a helper of the user's, not a library's)."""
        if isinstance(func, ast.Attribute) and self.is_local(func.value):
            return False  # (a method of an array: `y.sort()`)
        try:
            target = getattr(self.resolve(func), INLINE_ATTRIBUTE, None) or self.resolve(func)
        except (KeyError, errors.UnsupportedSyntaxError):
            return False
        library = getattr(target, "__module__", None) or ""
        return isinstance(target, LocalFunction) or isinstance(target, types.FunctionType) and library.split(".")[
            0] not in ("numpy", "scipy")

    def is_append(self, node):
        """Whether `node` is `name.append(...)` (or `.extend`) on a list of the function (of arrays or numbers)."""
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
                "append", "extend")
                and isinstance(node.func.value, ast.Name)):
            return False
        listed = self.frame.variables.get(node.func.value.id)
        return isinstance(listed, (ArrayList, LoopAppend)) or isinstance(listed, ArrayValue) and \
            listed in self.python_lists

    def augmented(self, node):
        if isinstance(node.target, ast.Subscript) and (any(
                isinstance(part, ast.Slice) or isinstance(part, ast.Constant) and part.value is Ellipsis
                for part in ast.walk(node.target.slice)) or self.names_a_part(node.target)):
            # `f[1:] -= d`, `agg[dst[k]] += Z[src[k]]` (a row): `f[1:] = f[1:] - d`, as NumPy computes it
            current = self.value(ast.copy_location(ast.Subscript(node.target.value, node.target.slice, ast.Load()),
                                                   node.target))
            self.bind(node.target, self.array_arithmetic(node.op, current, self.value(node.value), node), node)
        elif isinstance(node.target, ast.Subscript):
            array, indices = self.element(node.target)
            value = self.number(self.value(node.value), node.value)
            if isinstance(node.op, (ast.Add, ast.Sub)):
                self.store(array, indices, value if isinstance(node.op, ast.Add) else -value, True, node)
            else:
                current = self.read(array, indices, node.target)
                self.store(array, indices, self.arithmetic(node.op, current, value, node), False, node)
        elif isinstance(node.target, ast.Name):
            current, value = self.name_value(node.target), self.value(node.value)
            aliases = self.in_place_aliases(node, current) if self.is_array(current) else []
            combine = self.array_arithmetic if self.is_array(current) or self.is_array(value) else self.arithmetic
            result = combine(node.op, current, value, node)
            if self.is_array(current):
                self.same_shape_in_place(current, result, node)
            if aliases:  # (computed now: the other names may be read after a store changes what it reads)
                result = self.materialized(result, node.target.id, node)
            self.bind(node.target, result, node)  # (`g += x[:, i]`: a new array, bound to every name of the old)
            for frame, name in aliases:
                frame.variables[name] = self.frame.variables[node.target.id]
        else:
            raise self.error(errors.UnsupportedStatementError, node.target,
                             "augmented assignment to this target: use a variable or an array element")

    def names_a_part(self, target):
        """Whether a subscript names a row (or a block) of a local array, with fewer indices than it has axes
        (`agg[i]` of a matrix)."""
        array = self.frame.variables.get(target.value.id) if isinstance(target.value, ast.Name) else None
        indices = target.slice.elts if isinstance(target.slice, ast.Tuple) else [target.slice]
        return self.is_array(array) and len(indices) < self.expression(array, target).ndim

    def frames(self):
        """This function's frame and those of the callers whose helpers are being lifted, outermost first."""
        return [f for f in self.outer_frames if f is not None] + [self.frame]

    def other_names(self, value, name=None):
        """(frame, name) of every name that holds the array `value`, but `name` in this frame."""
        return [(frame, other) for frame in self.frames() for other, held in frame.variables.items()
                if held is value and not (frame is self.frame and other == name)]

    def named(self, value):
        """Whether `value` is an array another name holds, here or in a caller whose helper is being lifted."""
        return self.is_array(value) and bool(self.other_names(value))

    def in_place_aliases(self, node, current):
        """The other names, in this function and in the callers whose helpers are being lifted, of the array that
        `name op= value` changes in place (as NumPy does): `v = u; v += 1` changes u too, and a helper's `v *= c` its
        caller's array.  They are bound to the new value with the name; refused where that cannot follow Python:
        the array is a view of another (`t = y[1:]`: a write into y), or a loop that does not carry the other name
        runs around the statement."""
        name, written = node.target.id, ast.unparse(ast.BinOp(node.target, node.op, node.value))
        carried = any(frame.variables.get(other) is current  # (a loop's own array: the row it carries)
                      for frame, other in self.carried_arrays)
        if any(chosen is current for chosen in self.chosen_arrays):
            raise self.error(errors.UnsupportedStatementError, node,
                             f"`{ast.unparse(node)}` changes in place the array {name!r} names, which an `if` chose "
                             f"from arrays other names hold too (`{name} = u` on one side): NumPy changes that name's "
                             f"array on that side only, which symgrad does not follow; write `{name} = {written}` for "
                             f"a new array, or make the update inside each side of the `if`")
        if isinstance(current, ArrayExpression) and current.view and not current.fresh and not carried:
            raise self.error(errors.UnsupportedStatementError, node,
                             f"`{ast.unparse(node)}` changes in place the array that {name!r} views ({current.text}), "
                             f"as NumPy does, and so every name that reads that array: symgrad does not follow writes "
                             f"through views; write `{name} = {written}` for a new array, or, where it views a "
                             f"local array, store into that array by its own name (y[1:] = y[1:] * c; an argument "
                             f"is copied first: y = y.copy())")
        frames, aliases = self.frames(), self.other_names(current, name)
        for frame, other in aliases:  # (a loop around the statement must carry the other name: it is rebound)
            inside = frames[frames.index(frame) + 1:]  # (the helpers called from that frame, down to this one)
            if any(f.loops for f in inside) or frame.loops and (frame, other) not in self.carried_arrays:
                raise self.error(errors.UnsupportedStatementError, node,
                                 f"`{ast.unparse(node)}` changes in place the array that {other!r} names too (as "
                                 f"NumPy does), inside a loop that does not assign {other!r}: assign it there "
                                 f"(`{other} = ...` with the changed array) for NumPy's in-place update, or write "
                                 f"`{name} = {written}` for a new array ({other!r} keeping its values)")
        return aliases

    def same_shape_in_place(self, current, result, node):
        """An in-place update keeps the array's shape: NumPy raises where the right side would broadcast it to
        another (`v = np.zeros(1); v += x`)."""
        result = self.expression(result, node)
        if result.ndim != len(current.shape):
            raise self.error(errors.UnsupportedStatementError, node,
                             f"`{ast.unparse(node)}` would give {ast.unparse(node.target)!r} {result.ndim} axes "
                             f"where it has {len(current.shape)}: NumPy raises for an in-place update that "
                             "broadcasts; write it as a new array (`v = v + e`)")
        for old, new in zip(current.shape, result.shape):
            self.same_size(old, new, f"the sizes of {ast.unparse(node.target)} and of the value {ast.unparse(node)} "
                                     "updates it with in place", node)

    def unpacked(self, value, count, node):
        """An array unpacked into `count` names, as Python iterates over it: its elements (of a vector) or rows,
        the first axis of the size `count` (checked when the kernel starts where it depends on the data)."""
        array = self.expression(value, node)
        self.same_size(array.shape[0], count, f"the length of {array.text} and the number of names", node)
        if array.ndim == 1:
            return tuple(as_number(array.at((sp.Integer(k),))) for k in range(count))
        return tuple(ArrayExpression(array.shape[1:], lambda i, k=k: array.at((sp.Integer(k),) + i), array.view,
                                     f"{array.text}[{k}]") for k in range(count))

    def bind(self, target, value, node):
        if isinstance(target, ast.Name):
            previous = self.frame.variables.get(target.id)
            carried = (self.frame, target.id) in self.carried_arrays
            local = any(target.id in names for names in self.frame.loop_locals)  # (made anew at each iteration)
            if self.frame.loops and self.is_array(previous) and previous is not value and not carried and not local:
                raise self.error(errors.UnsupportedStatementError, target,
                                 f"rebinding the array {target.id!r} inside a loop: make a new array once before "
                                 "the loop and write its elements")
            if isinstance(value, (ArrayList, LoopAppend, FloatInfo)) or value is FLOAT64 or self.named(value):
                self.frame.variables[target.id] = value  # (a second name of an array is that array: `v = u`)
            elif isinstance(value, ArrayExpression) and carried:
                self.frame.variables[target.id] = dataclasses.replace(value, name=target.id)
            elif isinstance(value, ArrayExpression) and not self.loop_depth and self.read_in_one_statement(target.id):
                self.frame.variables[target.id] = self.bound_lazily(value, target.id, node)
            else:
                self.frame.variables[target.id] = self.assign(target.id, value, node)
            if any(chosen is value for chosen in self.chosen_arrays):  # (bound as made: it stays a chosen array)
                self.chosen_arrays.append(self.frame.variables[target.id])
        elif isinstance(target, (ast.Tuple, ast.List)):
            if self.is_array(value) and not any(isinstance(e, ast.Starred) for e in target.elts):
                value = self.unpacked(value, len(target.elts), node)  # `a, b = theta`: along the first axis
            if not isinstance(value, tuple) or len(value) != len(target.elts):
                count = len(value) if isinstance(value, tuple) else 1
                raise self.error(errors.UnsupportedStatementError, target,
                                 f"cannot unpack {count} value(s) into {len(target.elts)} names")
            for element, part in zip(target.elts, value):
                self.bind(element, part, node)
        elif isinstance(target, ast.Subscript):
            if any(isinstance(n, ast.Slice) for n in ast.walk(target.slice)) or self.is_array(value):  # (or a row)
                self.store_into_slice(target, value, node)
                return
            array, indices = self.element(target)
            self.store(array, indices, self.number(value, node), False, node)
        else:
            raise self.error(errors.UnsupportedStatementError, target,
                             f"assignment to {type(target).__name__}: assign to variables or array elements")

    def store(self, array, indices, value, accumulate, node):
        if not array.local:
            raise self.error(errors.UnsupportedStatementError, node,
                             f"writing into the argument array {array.base.label}: copy it into a local array "
                             "(np.zeros_like) and write there")
        other_path = None if accumulate or self.guard is sp.true else self.other_path_store(array, indices)
        if other_path is not None:  # `if c: a[i] = u` / `else: a[i] = v`: one store, the old value never read
            value = sp.Piecewise((value, self.guard), (other_path, True))
        elif self.guard is not sp.true:  # a store under `if` writes on every path, choosing the value
            guard, self.guard = self.guard, sp.true  # the old value is read on every path too
            old = sp.Integer(0) if accumulate else self.read(array, indices, node)
            self.guard = guard
            value = sp.Piecewise((value, self.guard), (old, True))
        self.body.append(Store(array.base, indices, value, accumulate, self.line(node)))
        self.stores[array.base] = self.stores.get(array.base, 0) + 1

    def other_path_store(self, array, indices):
        """The value the other branch of this `if` stored into the same element, when it did so last (only
        assignments that do not read the array since), taking that store and its read of the old value out of
        the body; None otherwise."""
        element = sp.Indexed(array.base, *indices)
        at = len(self.body) - 1
        while at >= 0 and isinstance(self.body[at], Assign) and not any(
                e.base == array.base for e in self.body[at].value.atoms(sp.Indexed)):
            at -= 1
        store = self.body[at] if at >= 0 else None
        if not (isinstance(store, Store) and store.base == array.base and store.indices == tuple(indices)
                and not store.accumulate and isinstance(store.value, sp.Piecewise) and len(store.value.args) == 2
                and python_not(store.value.args[0][1]) == _as_in_piecewise(self.guard)):
            return None
        (taken, _), (old, _) = store.value.args
        read = self.body[at - 1] if at >= 1 else None
        if not (isinstance(read, Assign) and read.target == old and read.value == element):
            return None
        del self.body[at - 1:at + 1]
        return taken

    def return_value(self, node):
        if node.value is None:
            raise self.error(errors.MissingReturnError, node, "a bare `return`: return a value")
        value = self.value(node.value)
        returned = value if isinstance(value, tuple) else (value,)
        top = len(self.inlining) == 1  # (a helper may return arrays)
        if top and isinstance(value, tuple) and any(self.is_array(v) for v in returned):
            raise self.error(errors.UnsupportedStatementError, node,
                             "returning an array in a tuple: return one array (for sg.jacobian), or a tuple of "
                             "numbers")
        if top and self.is_array(value) and not self.array_output:
            raise self.error(errors.UnsupportedStatementError, node,
                             "returning an array: return a number, or use sg.jacobian for the Jacobian of an array "
                             "or a tuple of numbers")
        return value

    def run_branches(self, node):
        """An `if` without `return` in it: run both sides, merge what they assign into Piecewise values.  Where
        they bind different arrays and the test is of a size against 1, only the side for a size other than 1
        runs (`size_test_decided`)."""
        condition = self.condition(node.test)
        if condition in (sp.true, sp.false):
            self.run_block(node.body if condition is sp.true else node.orelse)
            return
        before, start, checks = dict(self.frame.variables), len(self.body), len(self.shape_checks)
        with self.guarded(condition):
            self.run_block(node.body)
        then_variables, self.frame.variables = self.frame.variables, dict(before)
        with self.guarded(python_not(condition)):
            self.run_block(node.orelse)
        else_variables = self.frame.variables
        merged, differ = {}, []
        advice = "give it a value on every path (before the `if`, or in an `else:`)"
        for name in then_variables.keys() | else_variables.keys():
            a, b = then_variables.get(name), else_variables.get(name)
            if isinstance(a, _Undefined) or isinstance(b, _Undefined):
                merged[name] = a if isinstance(a, _Undefined) else b
            elif a is None or b is None:
                merged[name] = _Undefined(name, f"is assigned on only one side of the `if` above: {advice}")
            elif a is b or (not self.is_array(a) and not self.is_array(b) and a == b):
                merged[name] = a
            elif self.is_array(a) and self.is_array(b) and self.same_shape(a, b, node):
                merged[name] = self.assign(name, self.select(condition, a, b, node), node)
                if any(other != name and (v is a or v is b) for side in (then_variables, else_variables)
                       for other, v in side.items()) or self.named(a) or self.named(b):
                    self.chosen_arrays.append(merged[name])  # (`v = u` on one side: v is u there)
            elif self.is_array(a) or self.is_array(b):
                differ.append(name)
                merged[name] = _Undefined(name, "names arrays of different shapes (or an array and a number) on the "
                                                "two sides of the `if` above: symgrad's arrays have one shape on every "
                                                "path; give it the same shape on both sides, or move the statements "
                                                "that read it (down to the `return`) into each side")
            else:
                merged[name] = self.assign(name, self.select(condition, a, b, node), node)
        decided = self.size_test_decided(condition, node) if set(differ) & _read_outside(
            self.frame.source.definition, node) else None
        if decided is not None:  # (`if y.shape[1] == 1: y = np.append(1 - y, y)`: one side, lifted alone)
            del self.body[start:], self.shape_checks[checks:-1]  # (the size's own check, appended last, stays)
            self.frame.variables = before
            self.run_block(node.body if decided is sp.true else node.orelse)
            return
        self.frame.variables = merged
        made = [s.value for s in self.body[start:] if isinstance(s, (Assign, Store))]
        self.probe_lost((condition,), made, node)  # (`if x[k] > 0: pass` still reads x[k])

    def run_returning_if(self, node, rest):
        """An `if` with a `return` in it: each side runs on with the rest of the block, then the two results merge."""
        condition = self.condition(node.test)
        if condition in (sp.true, sp.false):
            return self.run_block((node.body if condition is sp.true else node.orelse) + rest)
        before = dict(self.frame.variables)
        with self.guarded(condition):
            then_result = self.run_block(node.body + rest)
        self.frame.variables = dict(before)
        with self.guarded(python_not(condition)):
            else_result = self.run_block(node.orelse + rest)
        if then_result is None or else_result is None:
            return None
        if self.is_array(then_result.value) or self.is_array(else_result.value):
            raise self.error(errors.UnsupportedStatementError, node,
                             "an array returned on one side of an `if`: build one array (np.where, or stores under "
                             "the `if`) and return it after the `if`")
        result = self.select(condition, then_result.value, else_result.value, node)
        self.probe_lost((condition,), (result,), node)
        return _Returned(result, node)

    def select(self, condition, a, b, node):
        """The value of `a` where `condition` holds, else of `b` (numbers, tuples of them, or arrays of one shape:
        elementwise, each side's elements lifted under its own condition, so the derivative follows the side
        taken)."""
        if self.is_array(a) and self.is_array(b):  # (an array and a number: the array is refused as a number)
            if not self.same_shape(a, b, node):
                raise self.error(errors.UnsupportedExpressionError, node,
                                 f"{ast.unparse(node)!r} gives arrays of different shapes on its two sides: symgrad's "
                                 "arrays have one shape on every path; give both sides the same shape, or choose "
                                 "elementwise with np.where(condition, a, b)")
            a, b = self.expression(a, node), self.expression(b, node)

            def at(indices):
                with self.guarded(condition):
                    taken = as_number(a.at(indices))
                with self.guarded(python_not(condition)):
                    other = as_number(b.at(indices))
                return python_piecewise((taken, condition), (other, True))

            return ArrayExpression(a.shape, at, False, ast.unparse(node))
        if isinstance(a, tuple) or isinstance(b, tuple):
            if not (isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b)):
                raise self.error(errors.UnsupportedStatementError, node,
                                 "the two sides of this branch give values of different shapes (a tuple and a number)")
            return tuple(self.select(condition, x, y, node) for x, y in zip(a, b))
        return python_piecewise((self.number(a, node), condition), (self.number(b, node), True))

    def same_shape(self, a, b, node):
        """Whether two arrays have the same shape whatever the arguments (as the two sides of an `if` must)."""
        a, b = self.expression(a, node).shape, self.expression(b, node).shape
        return len(a) == len(b) and all(sp.expand(self.resolved_size(p) - self.resolved_size(q)) == 0
                                        for p, q in zip(a, b))

    def loop(self, node):
        """`for i in range(...)`: unrolled when short and literal, else kept as a Loop with its carried values."""
        if node.orelse:
            raise self.error(errors.UnsupportedStatementError, node, "a `for ... else`: drop the `else` clause")
        parts = self.unrolled_parts(node.iter)
        if parts is not None:  # (`for W, b in params`, `for W in [W1, W2]`: the loop over a list, unrolled)
            for part in parts:
                self.bind(node.target, part, node)
                self.run_block(node.body)
            return
        try:
            start, stop, step, bind = self.iteration(node)
        except errors.UnsupportedExpressionError as refused:
            if not getattr(node, COUNTED_WHILE, False):
                raise
            raise self.error(errors.UnsupportedStatementError, node,
                             "unsupported: a `while` loop whose condition "
                             f"{ast.unparse(getattr(node, COUNTED_WHILE))!r} compares a counter or a bound that is not an integer expression (it depends on a "
                             "float): count with an int up to an int bound, or for a loop that runs until a condition "
                             "on the values holds, use `for _ in range(m)` with a fixed count m, its body under `if` "
                             "the condition still fails") from refused
        literal = all(b.is_Integer for b in (start, stop, step))
        if literal and len(range(start, stop, step)) * _literal_iterations(node.body) <= UNROLL_LIMIT:
            for index in range(start, stop, step):
                bind(sp.Integer(index))
                self.run_block(node.body)
            return
        before = self.frame.variables
        assigned = _assigned_names(node.body)
        targets = {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
        carried_names = sorted(n for n in assigned if n in before and not isinstance(
            before[n], (ArrayValue, ArrayExpression, _Undefined, tuple)) and n not in targets)
        widened = self.array_accumulators(node, before, carried_names)
        if widened:  # (a number the body makes an array starts as that number in every element)
            self.runs_at_least_once(trip_count(start, stop, step), f"makes {', '.join(map(repr, sorted(widened)))} "
                                    "arrays", "make them arrays before the loop (np.full(n, 1.0))", node)
            carried_names = [n for n in carried_names if n not in widened]
            self.frame.variables = before = {**before, **{name: ArrayExpression(
                shape, lambda i, v=before[name]: v, False, name) for name, shape in widened.items()}}
        histories = self.histories(sorted(n for n in assigned if n in before and self.is_array(before[n])
                                          and n not in targets), start, stop, step, node)
        index = self.fresh(node.target.id if isinstance(node.target, ast.Name) else "i", integer=True)
        self.index_ranges[index] = (start, stop - 1) if step > 0 else (stop + 1, start)
        phis = {name: self.fresh(name) for name in carried_names}
        counters = {name for name in carried_names if isinstance(before[name], sp.Basic) and (
            integer_valued(before[name]) or self.whole_number(before[name]))}
        self.whole |= {phis[name] for name in counters}
        appends = self.loop_appends(node, before, start, stop, step, index)
        self.frame.variables = {**before, **phis, **appends}
        self.frame.loop_locals.append(assigned - set(before))
        try:
            with self.nested_block() as body:
                bind(index)
                self.carry_arrays(histories, index, start, step, node.body, node)
        finally:
            self.frame.loop_locals.pop()
        after = self.frame.variables
        carried, variables = [], dict(before)
        for name in carried_names:
            if isinstance(after[name], _Undefined):
                raise self.error(errors.UndefinedNameError, node,
                                 f"{name!r} is assigned on only one side of an `if` in this loop: "
                                 "give it a value on every path")
            result = self.fresh(name)
            carried.append(Carried(phis[name], self.number(before[name], node), self.number(after[name], node),
                                   result))
            variables[name] = result
            if name in counters:
                self.counter_kept(phis[name], result, after[name], name, body, node)
        for name, history in histories.items():
            variables[name] = self.history_row(history, history.shape[0] - 1, name, node)
        for name, rows in appends.items():
            if not rows.appended:
                raise self.error(errors.UnsupportedStatementError, node,
                                 f"{name}.append runs on only some paths of this loop: append once per iteration")
            if rows.rows.ndim == 1:  # numbers: the list is the vector of them (empty where the loop does not run)
                variables[name] = self.python_list(rows.rows, None)
                continue
            self.runs_at_least_once(rows.trips, f"appends to {name!r}", "append to the list before the loop, or "
                                    "join it only when the loop runs", node)  # (np.stack of an empty list raises)
            variables[name] = ArrayList(rows=rows.rows)
        for name in assigned - set(carried_names) - set(histories):
            if name in after:
                variables[name] = _Undefined(name, "is assigned inside the loop above but has no value before it: "
                                                   "give it one before the loop")
        for name in targets:  # (Python keeps the last; a kept loop's index has no value after it)
            variables[name] = _Undefined(name, (
                "is the counter of the `while` loop above, which symgrad runs as a `for` over a range and whose "
                "counter has no value after it: compute it from the bounds (n after `while i < n: ... i += 1` from "
                "i <= n)") if getattr(node, COUNTED_WHILE, False) else (
                "is the variable of the `for` loop above, which has no value after it in symgrad: compute it from "
                "the range (n - 1 after `for i in range(n)`), or read the last element by index (x[-1])"))
        self.body.append(Loop(index, start, stop, step, body, carried, self.line(node)))
        self.frame.variables = variables

    def counter_kept(self, phi, result, following, name, body, node):
        """A carried counter (`k = 0` before the loop) whose next value is a whole number stays one after the loop
        (`result`); one whose next value is not (`k += 0.5`) may not have indexed inside it."""
        value = following if isinstance(following, sp.Basic) else sp.nan
        if self.whole_number(value) or integer_valued(value) or value == phi:
            self.whole.add(result)
            return
        self.whole.discard(phi)
        if any(phi in e.free_symbols for s in walk(body) for e in _indices_of(s)):
            raise self.error(errors.UnsupportedExpressionError, node,
                             f"{name!r} indexes an array inside this loop, but the loop does not keep it a whole "
                             "number: step it by integers (k += 1)")

    def array_accumulators(self, node, before, carried_names):
        """The numbers the loop body makes arrays (`g = 1.0`, then `g += x[:, i]**2` in the loop), with the shape
        each takes: found by lifting the body once and throwing that away, where an assignment to a carried name
        reads a slice or an array by name."""
        arrays = {name for name, value in before.items() if self.is_array(value)}
        candidates = [name for name in carried_names if _assigned_from_arrays(node.body, name, arrays)]
        if not candidates:
            return {}
        saved = (self.frame.variables, len(self.shape_checks), dict(self.integer_values))
        self.frame.variables = {**before, **{name: self.fresh(name) for name in carried_names}}
        index = self.fresh("i", integer=True)
        try:
            with self.nested_block():
                self.iteration(node)[3](index)
                self.run_block(node.body)
            after = self.frame.variables
        except errors.UnsupportedSyntaxError:
            return {}  # (the loop itself, lifted next, raises it where it belongs)
        finally:
            self.frame.variables = saved[0]
            del self.shape_checks[saved[1]:]
            self.integer_values = saved[2]
        shapes = {name: self.expression(after[name], node).shape for name in candidates if self.is_array(after[name])}
        return {name: shape for name, shape in shapes.items()
                if not any(index in size.free_symbols for size in shape)}

    def unrolled_parts(self, node):
        """The parts of the list or tuple a `for` loop runs over, when it is one whose parts are arrays or tuples
        (a name bound to a list of layers, or a list or tuple written out in the `for`); None otherwise."""
        if isinstance(node, ast.Name) and isinstance(self.frame.variables.get(node.id), ArrayList):
            return self.listed_parts(node)
        if isinstance(node, (ast.List, ast.Tuple)) and node.elts and not all(
                isinstance(e, ast.Constant) or isinstance(e, ast.UnaryOp) and isinstance(e.operand, ast.Constant)
                for e in node.elts):
            value = self.value(node)
            if isinstance(value, ArrayList):
                return value.parts
            if isinstance(value, tuple):
                return value
        return None

    def listed_parts(self, node):
        """The parts of a list a `for` loop runs over: a list written out or appended to, not in a loop."""
        value = self.value(node)
        if value.rows is not None:
            raise self.error(errors.UnsupportedStatementError, node,
                             f"a `for` loop over {ast.unparse(node)!r}, appended to in a loop: join it with np.stack "
                             "and loop over the rows")
        return value.parts

    def loop_appends(self, node, before, start, stop, step, index):
        """The empty lists the body of a kept loop appends to, each as a LoopAppend of one row per trip."""
        calls = {n.func.value.id: n for n in ast.walk(node) if isinstance(n, ast.Call) and self.is_append(n)}
        names = set(calls)
        if names and self.loop_depth:
            raise self.error(errors.UnsupportedStatementError, calls[min(names)],
                             f"appending to {min(names)!r} in a loop inside another loop: append in the outer loop, or "
                             "write the parts into an array made before the loops")
        for name in names:
            if not isinstance(before[name], ArrayList) or before[name].parts or before[name].rows is not None:
                raise self.error(errors.UnsupportedStatementError, calls[name],
                                 f"a loop appending to {name!r}, which is not empty before it: start the list empty "
                                 "(`terms = []`) just before the loop")
        trips = trip_count(start, stop, step)
        position = index - start if step == 1 else IntDiv(index - start, step)
        return {name: LoopAppend(trips, position, self.loop_depth + 1, self.body) for name in sorted(names)}

    def iteration(self, node):
        """`(start, stop, step, bind)` of a `for` loop: `bind(index)` gives the loop's names their values."""
        call = node.iter
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "range"
                and self.frame.resolve(call.func.id) is range):
            return self.array_iteration(node)  # over an array, enumerate(...) or zip(...)
        if call.keywords or not 1 <= len(call.args) <= 3:
            raise self.error(errors.UnsupportedStatementError, call, "range() takes one to three arguments")
        if not isinstance(node.target, ast.Name):
            raise self.error(errors.UnsupportedStatementError, node.target, "the loop variable must be a plain name")
        start, stop, step = self.range_bounds(call)
        return start, stop, step, lambda index: self.frame.variables.__setitem__(node.target.id, index)

    def range_bounds(self, call):
        bounds = [self.number(self.value(arg), arg) for arg in call.args]
        for arg, bound in zip(call.args, bounds):
            if not bound.is_integer:
                raise self.error(errors.UnsupportedExpressionError, arg,
                                 f"the range bound {ast.unparse(arg)!r} is not an integer expression (it depends on a "
                                 "float value): loop bounds must come from int arguments, len(x), x.shape[k] or "
                                 "integer literals" + self.whole_float_hint(bound))
        if len(bounds) == 1:
            return sp.Integer(0), bounds[0], sp.Integer(1)
        step = bounds[2] if len(bounds) == 3 else sp.Integer(1)
        if not step.is_Integer or step == 0:
            raise self.error(errors.UnsupportedExpressionError, call.args[-1],
                             "a range step that is not a non-zero integer literal: write the step as a number")
        return bounds[0], bounds[1], step

    def reduce(self, name, start, stop, term, node, combine=operator.add, initial=sp.Integer(0)):
        """A reduction as a loop: `result = initial`, then `result = combine(result, term(k))` for k in
        range(start, stop) (a sum by default); `term` lifts each term.  An initial value that reads an array
        (max from the first element) is a statement of its own: reverse mode passes adjoints to the reads of
        statements, and a carried initial inside an outer loop would otherwise lose its share (np.max(A, axis=0))."""
        initial = self.assign(f"{name}_start", initial, node)
        index = self.fresh("k", integer=True)
        gather = self.gather_of(stop) if start == 0 else None  # (over a mask gather: where the mask holds)
        if gather is not None:
            stop = gather.size
        self.index_ranges[index] = (start, stop - 1)
        phi = self.fresh(name)
        with self.nested_block() as body:
            if gather is None:
                following = self.assign(name, combine(phi, self.number(term(index), node)), node)
            else:
                condition = as_condition(gather.mask.at((index,)))
                with self.guarded(condition):
                    summand = self.number(term(index), node)
                following = self.assign(name, sp.Piecewise((combine(phi, summand), condition), (phi, True)), node)
        result = self.fresh(name)
        self.body.append(Loop(index, start, stop, sp.Integer(1), body,
                              [Carried(phi, initial, following, result)], self.line(node)))
        return result

    # --- arrays -----------------------------------------------------------------------------------------
    def element(self, node, values=None):
        """The array and integer indices of `x[i]`, `x[i, j]` or `x[i][j]` (`values`: of the indices, when the
        caller lifted them)."""
        index_nodes, base = [], node
        while isinstance(base, ast.Subscript):
            index_nodes = (list(base.slice.elts) if isinstance(base.slice, ast.Tuple) else [base.slice]) + index_nodes
            base = base.value
        array = self.value(base)
        if isinstance(array, ArrayExpression):  # (reads of one go through `sliced`: this is a store)
            raise self.error(errors.UnsupportedStatementError, node,
                             f"a store into {ast.unparse(base)!r}, which is {'a view' if array.view else 'an array'} "
                             f"computed from others ({array.text}), not an array of its own: store into the local "
                             "array it views by that array's name (h[i + 1] = ... for v = h[1:])")
        if isinstance(array, LoopAppend):
            raise self.error(errors.UnsupportedExpressionError, node,
                             f"reading {ast.unparse(base)!r} inside the loop that appends to it: read it after the "
                             f"loop, or write the values into an array made before the loop (`{ast.unparse(base)} = "
                             f"np.zeros(n)`, then `{ast.unparse(base)}[i] = ...`)")
        if not isinstance(array, ArrayValue):
            raise self.error(errors.UnsupportedExpressionError, node,
                             f"indexing {ast.unparse(base)!r}, which is a number, not an array: pass arrays as "
                             "1-D or 2-D float arrays, and each scalar as its own argument")
        if len(index_nodes) != array.ndim:
            raise self.error(errors.UnsupportedExpressionError, node,
                             f"{ast.unparse(base)!r} has {array.ndim} axes but is indexed with {len(index_nodes)} "
                             "index(es): index single elements (slices are not supported)")
        for size in array.shape:
            self.not_along_a_gather(size)
        indices = []
        for axis, index_node in enumerate(index_nodes):
            if isinstance(index_node, ast.Slice):
                raise self.error(errors.UnsupportedExpressionError, index_node,
                                 "a slice (a view of an array): index single elements in a `for` loop")
            value = values[axis] if values is not None and len(values) == len(index_nodes) else self.value(index_node)
            index = self.index_number(value, ast.unparse(base), index_node)
            if not index.is_integer and self.whole_number(index):  # (a counter carried by a loop: `x[k]`)
                index = AsIndex(index)
            if not index.is_integer:
                raise self.error(errors.UnsupportedExpressionError, index_node,
                                 f"the index {ast.unparse(index_node)!r} is not an integer expression: index with "
                                 "loop variables, int arguments and integer arithmetic on them"
                                 + self.whole_float_hint(index))
            indices.append(index)  # a negative one counts from the end, in the kernel as in Python
        return array, tuple(indices)

    def read(self, array, indices, node):
        """An element's value; a local array's element is read into a symbol of its own (taped inside loops)."""
        element = sp.Indexed(array.base, *indices)
        if not array.local:
            return element
        return self.assign(f"{array.base.label}_at", element, node, taped=self.loop_depth > 0)

    def allocate(self, shape, node, name=None):
        shape = self.as_sizes(shape)  # (`np.zeros([n, m])`)
        shape = shape if isinstance(shape, tuple) else (shape,)
        shape, sizes = self.real_sizes(shape), shape  # (a mask gather's array is made whole, read as the gather)
        if not 1 <= len(shape) <= max(ARRAY_KINDS.values()) or not all(
                isinstance(n, sp.Basic) and n.is_integer for n in shape):
            raise self.error(errors.UnsupportedCallError, node, "a local array's shape must be one to three integer "
                                                                "expressions, e.g. np.zeros((n, m))")
        if self.loop_depth and not all(n.free_symbols <= self._outer_symbols() for n in shape):
            raise self.error(errors.UnsupportedCallError, node, "a local array whose size changes from one "
                                                                "iteration to the next: allocate it before the loop")
        label = self.fresh(name or self.name_hint)
        base = sp.IndexedBase(label, shape=shape)
        self.body.append(Allocate(base, tuple(shape), self.line(node)))
        return ArrayValue(base, tuple(sizes), True)

    def _outer_symbols(self):
        """The symbols the variables of this function and of the callers of its helpers hold or are sized by."""
        values = [v for frame in self.frames() for v in frame.variables.values()]
        return {s for v in values if isinstance(v, sp.Basic) for s in v.free_symbols} | {
            s for v in values if isinstance(v, (ArrayValue, ArrayExpression)) for n in v.shape
            for s in sp.sympify(n).free_symbols}

    def array_call(self, target, node, args):
        """np.zeros/np.empty/np.zeros_like, len, and builtin max/min of one array; None for other calls."""
        label = ast.unparse(node.func)
        if id(target) in ARRAY_CONSTRUCTORS:
            keywords = {k.arg for k in node.keywords}
            if len(args) != 1 or keywords - {"dtype"}:
                raise self.error(errors.UnsupportedCallError, node, f"{label}(shape): give the shape only")
            return self.allocate(args[0], node)
        if id(target) in ARRAY_LIKE_CONSTRUCTORS:
            if len(args) != 1 or not self.is_array(args[0]):
                raise self.error(errors.UnsupportedCallError, node, f"{label}(x) needs one array argument")
            return self.allocate(self.expression(args[0], node).shape, node)
        if target is len:
            if len(args) != 1 or not self.is_array(args[0]):
                raise self.error(errors.UnsupportedCallError, node, "len() of something that is not an array")
            return self.read_shape(args[0], node)[0]
        if target in (builtins.max, builtins.min) and len(args) == 1 and not node.keywords:
            if not self.is_array(args[0]):
                raise self.error(errors.UnsupportedCallError, node,
                                 f"{label}() of one number: Python raises TypeError there (a number is not "
                                 f"iterable); write {label}(a, b) of two numbers, or pass an array")
            return self.reduction(f"builtin {target.__name__}", args[0], None, False, node)
        return None

    # --- expressions ----------------------------------------------------------------------------------
    def value(self, node):
        """A SymPy expression, a tuple of them, or an ArrayValue, for an expression node."""
        if isinstance(node, ast.Constant):
            number = constant_to_sympy(node.value) if not isinstance(node.value, (str, bytes)) else None
            if number is None:
                raise self.error(errors.UnsupportedExpressionError, node,
                                 f"the constant {node.value!r}: symgrad differentiates numbers only")
            return number
        if isinstance(node, ast.Name):
            return self.name_value(node)
        if isinstance(node, ast.BinOp):
            left, right = self.value(node.left), self.value(node.right)
            self.no_list_arithmetic((left, right), node)
            if type(node.op) in MASK_OPERATORS:
                return self.mask_operator(node.op, left, right, node)
            if isinstance(node.op, ast.MatMult):
                return self.product(left, right, node, batched=True)
            if self.is_array(left) or self.is_array(right):
                return self.array_arithmetic(node.op, left, right, node)
            return self.arithmetic(node.op, self.number(left, node.left), self.number(right, node.right), node)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                operand = self.value(node.operand)
                self.no_list_arithmetic((operand,), node)
                if self.is_array(operand):
                    return self.elementwise(operator.neg, [operand], node)
                operand = self.number(operand, node.operand)
                folded = self.folded(operator.neg, (operand,), node)
                return -operand if folded is None else folded
            if isinstance(node.op, ast.UAdd):
                operand = self.value(node.operand)
                return operand if self.is_array(operand) else self.number(operand, node.operand)
            if isinstance(node.op, ast.Invert):
                return self.inverted_mask(self.value(node.operand), node)
            raise self.error(errors.UnsupportedExpressionError, node,
                             f"the operator {type(node.op).__name__} on a number: use `not` only in conditions")
        if isinstance(node, ast.IfExp):
            condition = self.condition(node.test)
            if condition in (sp.true, sp.false):
                return self.value(node.body if condition is sp.true else node.orelse)
            with self.guarded(condition):
                a = self.value(node.body)
            with self.guarded(python_not(condition)):
                b = self.value(node.orelse)
            result = self.select(condition, a, b, node)
            if self.named(a) or self.named(b):  # (`v = u if c else w`: v is u or w, which `v += e` would change)
                self.chosen_arrays.append(result)
            self.probe_lost((condition,), (result,), node)
            return result
        if isinstance(node, ast.Tuple):  # of numbers and arrays (`mean, log_std = params[:D], params[D:]`)
            parts = [self.value(element) for element in node.elts]
            return tuple(p if self.is_array(p) else self.number(p, e) for p, e in zip(parts, node.elts))
        if isinstance(node, ast.List) and node.elts and all(
                isinstance(e, ast.Constant) or isinstance(e, ast.UnaryOp) and isinstance(e.operand, ast.Constant)
                for e in node.elts):  # a list of numbers: a constant array
            rows = self.display_rows(node)
            return self.python_list(self.array_of(rows, node), rows)
        if isinstance(node, ast.List):
            parts = tuple(self.value(element) for element in node.elts)
            if all(self.is_array(part) or isinstance(part, tuple) and all(map(self.is_array, part))
                   for part in parts):  # arrays to be joined (or `terms = []`), or tuples of arrays to loop over
                return ArrayList(parts)
            if not any(self.is_array(part) or isinstance(part, tuple) for part in parts):  # of numbers: an array
                numbers = [self.number(p, e) for p, e in zip(parts, node.elts)]
                return self.python_list(self.array_of(numbers, node), numbers)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Subscript):
            return self.subscript(node)
        if isinstance(node, ast.Attribute):
            return self.attribute(node)
        if isinstance(node, ast.Compare):
            return self.comparison(node)
        if isinstance(node, COMPREHENSIONS):
            return self.listed_comprehension(node)
        if isinstance(node, ast.BoolOp):
            raise self.error(errors.UnsupportedExpressionError, node,
                             "`and` / `or` used as a number: write `1.0 if a and b else 0.0`")
        reason = REFUSED_EXPRESSIONS.get(type(node), f"the expression {type(node).__name__}")
        raise self.error(errors.UnsupportedExpressionError, node, f"unsupported: {reason}")

    def subscript(self, node):
        container = node.value
        if isinstance(container, ast.Attribute) and container.attr == "shape" or isinstance(container, ast.Tuple) or (
                isinstance(container, ast.Name) and isinstance(self.frame.variables.get(container.id), tuple)):
            values = self.value(container)  # (a shape, a tuple written out or bound to a name)
            index = self.number(self.value(node.slice), node.slice)
            if not isinstance(values, tuple) or not index.is_Integer or not -len(values) <= index < len(values):
                raise self.error(errors.UnsupportedExpressionError, node,
                                 f"{ast.unparse(node)!r}: index a shape or a tuple with an integer literal in range")
            return values[int(index)]
        if self.masked_gather is not None and ast.dump(node.slice) == self.masked_gather[0]:
            return self.gathered_through_mask(node)
        index_nodes = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
        container = self.value(node.value)
        if isinstance(container, tuple):  # (a helper's tuple: `pair(x)[1]`)
            index = self.number(self.value(node.slice), node.slice)
            if not index.is_Integer or not -len(container) <= index < len(container):
                raise self.error(errors.UnsupportedExpressionError, node,
                                 f"{ast.unparse(node)!r}: index a tuple with an integer literal in range")
            return container[int(index)]
        if isinstance(container, ArrayList) and container.rows is None and len(index_nodes) == 1:
            index = self.number(self.value(node.slice), node.slice)  # (a part of a list of arrays: `parts[0]`)
            if not index.is_Integer or not -len(container.parts) <= index < len(container.parts):
                raise self.error(errors.UnsupportedExpressionError, node,
                                 f"{ast.unparse(node)!r}: index a list of arrays with an integer literal in range, or "
                                 "join it (np.stack) and index the array")
            return container.parts[int(index)]
        if isinstance(container, ArrayList):  # (a loop's appends: the rows of an array)
            container = container.rows
        if self.is_array(container) and (isinstance(container, ArrayExpression) or len(index_nodes) < container.ndim
                                         or any(isinstance(i, ast.Slice) or self.is_new_axis(i) or isinstance(
                                                i, ast.Constant) and i.value is Ellipsis for i in index_nodes)):
            return self.sliced(container, index_nodes, node)
        values = [self.value(i) for i in index_nodes]  # (each lifted once)
        if self.is_array(container) and any(self.is_array(v) for v in values):  # x[idx]: a gather; x[x > 0]
            return self.sliced(container, index_nodes, node, values)
        array, indices = self.element(node, values)
        return self.read(array, indices, node)

    def attribute(self, node):
        if self.is_local(node.value):
            array = self.value(node.value)
            if isinstance(array, FloatInfo):
                return self.float_info_attribute(node)
            if isinstance(array, tuple) and node.attr in getattr(array, "_fields", ()):  # (a named result)
                return getattr(array, node.attr)
            if not self.is_array(array):
                raise self.error(errors.UnsupportedExpressionError, node,
                                 f"the attribute .{node.attr} of the number {ast.unparse(node.value)!r}")
            shape = self.read_shape(array, node)
            if node.attr == "shape":
                return shape
            if node.attr == "size":
                return sp.Mul(*shape)
            if node.attr == "ndim":
                return sp.Integer(len(shape))
            if node.attr == "T":
                return self.transposed(array, node)
            if node.attr == "dtype":
                return FLOAT64
            raise self.error(errors.UnsupportedExpressionError, node,
                             f"the array attribute .{node.attr}: use .shape, .size, .ndim, .T, .dtype, len() or "
                             "indexing")
        return self.global_number(self.resolve(node), node, self.outside_path(node))

    def is_local(self, node):
        """Whether an attribute's base is a value of the function (an array), not a module or a global."""
        while isinstance(node, ast.Attribute):
            node = node.value
        return not isinstance(node, ast.Name) or node.id in self.frame.variables

    def number(self, value, node):
        """`value` as one SymPy expression: refuse tuples and arrays where a number is needed."""
        if isinstance(value, tuple):
            raise self.error(errors.UnsupportedExpressionError, node,
                             "a tuple used as a number: unpack it first (`a, b = ...`)")
        if value is FLOAT64 or isinstance(value, FloatInfo):
            raise self.error(errors.UnsupportedExpressionError, node,
                             f"the type {ast.unparse(node)} used as a number: a type goes to np.finfo(...), "
                             ".astype(...) or dtype=; np.finfo(float).eps is a number")
        if isinstance(value, (ArrayList, LoopAppend)):
            raise self.error(errors.UnsupportedExpressionError, node,
                             "a list of arrays used as a number: join it with np.stack, np.column_stack or "
                             "np.concatenate, then index or reduce the array")
        if self.is_array(value):
            text = value.text if isinstance(value, (ArrayExpression, MaskedArray)) else self.source_names.get(
                str(value.base.label), value.base.label)  # (the name in the source, not its SSA version)
            raise self.error(errors.UnsupportedExpressionError, node,
                             f"the array {text} used as a number: index its elements (x[i]), or reduce it "
                             "(np.sum, np.mean, np.max, @)")
        return value

    def scalar(self, node):
        return self.number(self.value(node), node)

    def arithmetic(self, op, a, b, node):
        if type(op) not in ARITHMETIC:
            raise self.error(errors.UnsupportedExpressionError, node,
                             f"the operator {type(op).__name__} on scalars: use + - * / ** // %")
        a, b = self.number(a, node), self.number(b, node)
        divided = isinstance(op, ast.Div)  # (`total / float(n)`, `1 / float(n)`: float arithmetic without float())
        if isinstance(a, AsFloat) and not isinstance(op, ast.Pow) and (divided or not integer_valued(b)):
            a = a.args[0]
        if isinstance(b, AsFloat) and (divided or not integer_valued(a)):
            b = b.args[0]
        folded = self.folded(PYTHON_ARITHMETIC[type(op)], (a, b), node)
        if folded is not None:
            return folded
        if b.is_Number and b.is_zero and isinstance(op, (ast.Div, ast.FloorDiv, ast.Mod)):  # (constants are atoms)
            raise self.error(errors.UnsupportedExpressionError, node, "division by the constant zero")
        result = ARITHMETIC[type(op)](a, b)
        self.probe_lost((a, b), (result,), node)
        return result

    def probe_lost(self, sources, results, node):
        """A probe (an assignment kept for its bounds check) for each array read of `sources` that none of
        `results` makes: SymPy drops a read from `x[k] * 0.0` and from a condition whose two sides agree, but
        Python makes it, and raises outside the array.  A read inside a branch of a source (`x[j] if c else a`) is
        probed under the condition that the branch is taken, as Python makes it only then."""
        def flat(values):
            return [v for value in values for v in (value if isinstance(value, tuple) else (value,))
                    if isinstance(v, sp.Basic)]

        read = set().union(set(), *(v.atoms(sp.Indexed) for v in flat(sources)))
        if not read:  # (most operations read no array: the results need no walk)
            return
        made = set().union(set(), *(v.atoms(sp.Indexed) for v in flat(results)))
        when = {}
        for element, condition in (pair for v in flat(sources) for pair in element_reads(v)):
            when[element] = sp.Or(when.get(element, sp.false), condition)
        for element in sorted(read - made, key=str):
            self.body.append(Assign(self.fresh("read"), element, sp.And(self.guard, when.get(element, sp.true)),
                                    self.line(node), probe=True))

    def folded(self, compute, args, node):
        """Python's own float64 result of an operation on constants, or None when an argument is not a constant.

        SymPy would compute exactly (sin(pi) = 0 where Python gives 1.2e-16, 1e308 * 10 without overflow); the
        semantics is what the Python computes, so constants are folded by running the Python operation."""
        if not all(isinstance(a, sp.Basic) and a.is_Atom and a.is_number for a in args):
            return None  # (constants are folded as they appear, so a constant is always an atom)
        try:
            with np.errstate(all="ignore"):
                value = compute(*(python_number(a) for a in args))
        except (ArithmeticError, ValueError, TypeError) as exc:
            raise self.error(errors.UnsupportedExpressionError, node,
                             f"{ast.unparse(node)!r} raises {type(exc).__name__} ({exc}) in Python: compute it "
                             "outside the function if it is meant") from None
        number = constant_to_sympy(value)
        if number is None:
            raise self.error(errors.UnsupportedExpressionError, node,
                             f"{ast.unparse(node)!r} is {value!r} in Python, not a real number")
        return number

    def name_value(self, node):
        variables = self.frame.variables
        if node.id in variables:
            value = variables[node.id]
            if isinstance(value, _Undefined):
                raise self.error(errors.UndefinedNameError, node, f"{node.id!r} {value.advice}")
            return value
        return self.global_number(self.resolve(node), node, self.outside_path(node))

    def global_number(self, obj, node, path):
        """A value from outside the function (a global, a closure variable, a module attribute): a number folded
        in (and checked at each call), a type, or an array passed to the kernels (`module_array`)."""
        number = constant_to_sympy(obj)
        if number is not None:
            root = None if path is None else imported(path[0][len(IMPORTED):]) if path[0].startswith(IMPORTED) \
                else self.frame.resolve(path[len(self.frame.path)])
            if path is not None and not (isinstance(root, types.ModuleType)
                                         and root.__name__.split(".")[0] in LIBRARIES):
                self.folded_globals[path] = describe_number(obj)
            return number
        if any(obj is t for t in FLOAT_TYPES):
            return FLOAT64  # (a type, for np.finfo, .astype and dtype=)
        label = ast.unparse(node)
        if isinstance(obj, (list, np.ndarray)):
            return self.module_array(obj, node, path)
        if isinstance(obj, (dict, set, bytearray)):
            raise self.error(errors.MutableGlobalError, node,
                             f"{label!r} is a {type(obj).__name__} from outside the function: symgrad reads "
                             "module-level arrays and lists of numbers at each call, not other containers "
                             "(docs/language.md): pass its numbers as an argument")
        raise self.error(errors.UnsupportedExpressionError, node,
                         f"{label!r} is a {type(obj).__name__}, not a number: pass numbers as arguments")

    def module_array(self, obj, node, path):
        """A module-level array or list of numbers, read by the kernels as a hidden argument after the user's:
        the call path passes the global's value at each call, so a change to it is seen, as in Python."""
        label = ast.unparse(node)
        if path is None:
            raise self.error(errors.MutableGlobalError, node,
                             f"{label!r} is a module-level {type(obj).__name__} read by a helper that is passed as a "
                             "value, which the call path cannot find again: call the helper by its name, or pass "
                             f"{label} as an argument (docs/language.md)")
        if path in self.passed_globals:
            return self.passed_globals[path]
        try:
            values = np.asarray(obj)
            ndim = values.ndim if values.dtype.kind in "biuf" else None
        except (TypeError, ValueError):
            ndim = None
        kind = next((kind for kind, axes in ARRAY_KINDS.items() if axes == ndim), None)
        if kind is None:
            what = "items that are not all real numbers" if ndim is None else f"{ndim} axes"
            raise self.error(errors.MutableGlobalError, node,
                             f"{label!r} is a module-level {type(obj).__name__} of {what}: symgrad passes module-level "
                             f"arrays of numbers with {' or '.join(map(str, ARRAY_KINDS.values()))} axes to the "
                             "kernels (docs/language.md); pass this one as an argument")
        argument = self._argument(self.fresh(spelled(path).rsplit(".", 1)[-1]).name, kind)
        self.passed_arguments.append(argument)
        self.entry_symbols |= set(argument.shape)
        self.size_names.update({size: sp.Symbol(f"len({label})" if len(argument.shape) == 1 else
                                                f"{label}.shape[{k}]") for k, size in enumerate(argument.shape)})
        self.passed_globals[path] = ArrayValue(argument.base, argument.shape, False)
        return self.passed_globals[path]

    def resolve(self, node):
        """The Python object a global name or a module attribute (`math.pi`, `np.sin`) refers to."""
        if isinstance(node, ast.Name):
            if isinstance(self.frame.variables.get(node.id), FUNCTION_VALUES + (LocalFunction,)):
                return self.frame.variables[node.id]  # (a function passed to a helper: `nonlinearity(x)`)
            if node.id in self.frame.variables:
                raise self.error(errors.UnsupportedCallError, node,
                                 f"{node.id!r} is a local value, not a function")
            try:
                return self.frame.resolve(node.id)
            except KeyError:
                raise self.error(errors.UndefinedNameError, node, f"name {node.id!r} is not defined") from None
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value) if isinstance(node.value, (ast.Name, ast.Attribute)) else None
            if isinstance(base, types.ModuleType):
                if not hasattr(base, node.attr):
                    raise self.error(errors.UnsupportedCallError, node,
                                     f"module {base.__name__!r} has no attribute {node.attr!r}")
                return getattr(base, node.attr)
            if base is not None and (composite(getattr(base, node.attr, None)) is not None
                                     or scipy_function(getattr(base, node.attr, None)) is not None
                                     or numpy_method(getattr(base, node.attr, None)) is not None):
                return getattr(base, node.attr)  # (norm.logpdf, np.maximum.accumulate: a method of an object)
            refusal = stats_refusal(base, node.attr)
            if refusal:
                raise self.error(errors.UnsupportedCallError, node, refusal)
            raise self.error(errors.UnsupportedExpressionError, node,
                             f"the attribute {ast.unparse(node)!r}: only module attributes such as math.pi or "
                             "np.sin, and an array's .shape and .size, are supported")
        raise self.error(errors.UnsupportedCallError, node, f"a call of {ast.unparse(node)!r}: call a named function")

    def call(self, node):
        label = ast.unparse(node.func)
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            raise self.error(errors.UnsupportedCallError, node, f"*args or **kwargs in the call to {label}: "
                                                                "pass the arguments one by one")
        if isinstance(node.func, ast.Attribute) and self.is_local(node.func.value):
            owner = self.value(node.func.value)
            if not self.is_array(owner):
                raise self.error(errors.UnsupportedCallError, node,
                                 f"the method call {label}() on a number: call a function of it instead")
            return self.method_call(owner, node)
        target = self.resolve(node.func)
        if refusal(target):  # (before its arguments: einsum's text)
            raise self.error(errors.UnsupportedCallError, node, f"{label}() is not supported: {refusal(target)}")
        if (getattr(target, "__module__", None) or "").startswith("numpy.ma"):
            if target in (np.ma.array, np.ma.masked_array):
                return self.masked_array(node)
            raise self.error(errors.UnsupportedCallError, node,
                             f"{label}(): symgrad takes np.ma.array(x, mask=m) of the masked arrays, with "
                             "elementwise arithmetic and sums: zero the masked elements with np.where(mask, 0.0, e) "
                             "before a sum, or select the others with a slice (x[:, :-1]); see docs/language.md")
        comprehension = self.comprehension_call(target, node)
        if comprehension is not None:
            return comprehension
        constructed = self.constructed(target, node)
        if constructed is not None:
            return constructed
        if target is np.finfo:
            return self.float_info(node)
        lowered = self.numpy_function(target, node)  # (before the arguments: some are string literals)
        if lowered is None:
            lowered = self.masked_reduction(target, node)  # (np.sum(x[m] ** 2): before x[m] is lifted alone)
        if lowered is not None:
            return lowered
        args = [self.value(arg) for arg in node.args]
        if any(isinstance(a, LoopAppend) for a in args):
            raise self.error(errors.UnsupportedCallError, node,
                             f"{label}() of a list inside the loop that appends to it: read the list after the loop, "
                             "or keep a running value (`total += v` beside `terms.append(v)`)")
        if args and isinstance(args[0], tuple) and args[0] and not any(map(self.is_array, args[0])) and (
                target in (sum, math.fsum, math.prod, builtins.max, builtins.min) or id(target) in REDUCING_FUNCTIONS):
            args[0] = self.array_of(list(args[0]), node.args[0])  # (a tuple of numbers reduced: `sum((a, b))`)
        target = getattr(target, INLINE_ATTRIBUTE, target)
        library = getattr(target, "__module__", None) or ""
        if isinstance(target, LocalFunction) or isinstance(target, types.FunctionType) and library.split(".")[
                0] not in ("numpy", "scipy"):
            return self.inline(target, node, args, {k.arg: self.value(k.value) for k in node.keywords})
        array_result = self.array_call(target, node, args)
        if array_result is None and (any(self.is_array(a) for a in args) or composite(target) is not None
                                     or special_reduction(target) is not None or target in (
                np.atleast_1d, np.atleast_2d, np.where) or id(
                target) in REDUCING_FUNCTIONS and len(args) == 1):  # (np.sum of a number is the number)
            array_result = self.numpy_call(target, node, args)
        if array_result is not None:
            return array_result
        if refusal(target):  # (before its keywords: `axis=` of np.append)
            raise self.error(errors.UnsupportedCallError, node, f"{label}() is not supported: {refusal(target)}")
        known = id(target) in FUNCTIONS_BY_OBJECT or target in (int, divmod) or any(target is t for t in FLOAT_TYPES)
        if node.keywords and known:  # (an unknown function is refused as one, below: its keywords are beside it)
            raise self.error(errors.UnsupportedCallError, node,
                             f"keyword arguments to {label}: symgrad takes keywords only where docs/language.md "
                             "lists them (axis=, keepdims=, ord=); pass the others by position")
        if any(target is t for t in FLOAT_TYPES) and len(args) == 1:  # float(a), np.float64(a)
            if self.is_array(args[0]):
                return args[0]
            number = self.number(args[0], node.args[0])
            return AsFloat(number) if integer_valued(number) else number  # (`float(i) ** 7` is a float's power)
        if target is int and len(args) == 1:
            whole = self.number(args[0], node.args[0])
            numerator, denominator = whole.as_numer_denom()
            if not whole.is_integer and numerator.is_integer and numerator.is_nonnegative and \
                    denominator.is_Integer and denominator > 0:  # int(len(x) / 2): a size over a positive literal
                whole = IntDiv(numerator, denominator)
            return PythonInt(whole)  # (an integer expression as it is; a float truncated toward zero, as Python)
        if target is divmod and len(args) == 2:
            a, b = (self.number(a, arg) for a, arg in zip(args, node.args))
            return self.arithmetic(ast.FloorDiv(), a, b, node), self.arithmetic(ast.Mod(), a, b, node)
        spelling = FUNCTIONS_BY_OBJECT.get(id(target))
        if spelling is None:
            raise self.error(errors.UnsupportedCallError, node,
                             f"call to {label!r}, which symgrad cannot lift: use the math/NumPy functions listed "
                             "in docs/language.md or a Python helper function, and compute anything else (random "
                             "numbers, I/O) outside and pass it in as an argument")
        if spelling[0] == "copysign" and len(node.args) == 2 and _negative_zero(node.args[1]):
            raise self.error(errors.UnsupportedCallError, node.args[1],
                             f"{label}(a, -0.0): symgrad's numbers have no signed zero; write -1.0 for the sign")
        if any(self.is_array(a) for a in args):  # a function of the rules table applied to whole arrays
            return self.elementwise(lambda *elements: self.scalar_function(
                target, spelling, [as_number(e) for e in elements], node), args, node)
        return self.scalar_function(target, spelling, [self.number(a, arg) for a, arg in zip(args, node.args)], node)

    def scalar_function(self, target, spelling, args, node):
        """A function of the rules table applied to numbers, folded when they are constants."""
        folded = self.folded(target, args, node)
        if folded is not None:
            return folded
        try:
            return spelling[1](*args)
        except TypeError as exc:
            raise self.error(errors.UnsupportedCallError, node, f"call to {ast.unparse(node.func)}: {exc}") from None

    def compared(self, relation, left, right, node):
        """`left <relation> right` as Python computes it.  SymPy decides `x == x`, and for real symbols `x <= x` and
        `x + 1.0 > x`, by algebra, which a NaN (`nan == nan` is false) or rounding (`1e17 + 1.0 > 1e17` is false)
        contradicts: such a comparison of floats is made between names SymPy cannot compare, and that of a value
        with itself is a NaN test."""
        result = relation(left, right)
        if not isinstance(result, BooleanAtom) or integer_valued(left) and integer_valued(right):
            return result
        left, right = (self.assign("compared", value, node) for value in (left, right))
        if left == right:
            return sp.false if relation in (sp.Lt, sp.Gt) else (sp.Ne if relation is sp.Ne else sp.Eq)(isnan(left), 0)
        return relation(left, right)

    def condition(self, node):
        """A SymPy boolean for a condition (`if`, conditional expression)."""
        if isinstance(node, ast.Compare):
            left = self.scalar(node.left)
            parts = []
            for op, comparator in zip(node.ops, node.comparators):
                if type(op) not in COMPARISONS:
                    raise self.error(errors.UnsupportedExpressionError, node,
                                     f"the comparison {type(op).__name__}: compare numbers with < <= > >= == !=")
                right = self.scalar(comparator)
                folded = self.folded(PYTHON_COMPARISONS[type(op)], (left, right), node)
                parts.append(self.compared(COMPARISONS[type(op)], left, right, node) if folded is None
                             else sp.sympify(bool(folded)))
                self.probe_lost((left, right), parts[-1:], node)  # SymPy decides `x[k] < x[k] + 1` unread
                left = right
            return sp.And(*parts)
        if isinstance(node, ast.BoolOp):
            operands, enclosing = [], self.guard
            try:  # an operand is evaluated only where the ones before it did not decide (its reads run there)
                for value in node.values:
                    operands.append(self.condition(value))
                    decided = operands[-1] if isinstance(node.op, ast.And) else python_not(operands[-1])
                    self.guard = sp.And(self.guard, decided)
            finally:
                self.guard = enclosing
            result = (sp.And if isinstance(node.op, ast.And) else python_or)(*operands)
            # Python always evaluates the first operand; the kernel evaluates the operands that read no array
            # first (`rules.ordered_operands`), so a first operand's reads are probed: `x[j] > 0 and j < n`
            # raises where x[j] does not exist, as in Python, and so does `x[j] > 0 and False`.
            self.probe_lost(operands[:1], (), node)
            return result
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return python_not(self.condition(node.operand))
        if isinstance(node, ast.Constant) and isinstance(node.value, bool):
            return sp.true if node.value else sp.false
        return sp.Ne(self.scalar(node), 0)


FUNCTION_VALUES = (types.FunctionType, types.BuiltinFunctionType, np.ufunc)


def _assigned_from_arrays(statements, name, arrays):
    """Whether a statement assigns `name` a value that reads a slice or one of the named arrays."""
    for statement in statements:
        for node in ast.walk(statement):
            if isinstance(node, (ast.Assign, ast.AugAssign)) and any(
                    isinstance(t, ast.Name) and t.id == name
                    for t in (node.targets if isinstance(node, ast.Assign) else [node.target])):
                if any(isinstance(n, ast.Slice) or isinstance(n, ast.Name) and n.id in arrays and not (
                        isinstance(parent, ast.Subscript) and parent.value is n)
                        for parent in ast.walk(node.value) for n in ast.iter_child_nodes(parent)):
                    return True
    return False


def _read_outside(definition, statement):
    """The names a function reads outside one of its statements."""
    inside = {id(n) for n in ast.walk(statement)}
    return {n.id for n in ast.walk(definition) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
            and id(n) not in inside}


def _indices_of(statement):
    """The indices of the array elements `statement` reads or stores (AsIndex of a counter included)."""
    if isinstance(statement, Store):
        found = list(statement.indices)
        value = statement.value
    elif isinstance(statement, Assign):
        found, value = [], statement.value
    else:
        return []
    return found + [i for e in value.atoms(sp.Indexed) for i in e.indices]


def _contains_return(node):
    return any(isinstance(n, ast.Return) for n in ast.walk(node))


def _literal_iterations(statements):
    """How many times the innermost statements of nested `for i in range(<int literals>)` loops run at most;
    infinity when a nested loop's range is not literal."""
    most = 1
    for statement in statements:
        if isinstance(statement, ast.For):
            call = statement.iter
            literal = isinstance(call, ast.Call) and call.args and all(
                isinstance(a, ast.Constant) and isinstance(a.value, int) for a in call.args)
            if not literal:
                return float("inf")
            most = max(most, len(range(*(a.value for a in call.args))) * _literal_iterations(statement.body))
        elif isinstance(statement, ast.If):
            most = max(most, _literal_iterations(statement.body), _literal_iterations(statement.orelse))
    return most


def lift(function, observed=None, array_output=False):
    """The Program of a Python function: the entry point of the pipeline.  `observed` maps an argument to the
    kind of the array its first call passed (see `infer_kinds`); `array_output` lets it return an array
    (`Program.output_shape`)."""
    try:
        return _lifted_for_ranks(function, observed, array_output)
    except RecursionError:
        source = read_source(function)
        raise source.error(errors.UnsupportedSyntaxError, source.definition,
                           f"{function.__name__}() nests helper calls or expressions deeper than symgrad can follow "
                           f"(it needs about {FRAMES_PER_LEVEL} Python frames per level): flatten the nesting, "
                           "for example with intermediate variables or a loop") from None


def _lifted_for_ranks(function, observed, array_output=False):
    """The Program for the first call's ranks; where they contradict an array's rank the body decides (w[j] of a
    matrix w), the Program for the body's own kind of one argument (the first that lifts) or else of all, so that
    the call is refused naming the argument: `lam * np.sum(w**2)` with an array `lam` returns an array, and only
    `lam` as a number lifts, where the body's own kinds would also take `X @ w` for a dot of vectors and blame
    `X`.  Kernels so derived are dropped once they have refused the call (`Transform._refused`)."""
    try:
        return Lifter(function, observed, array_output).lift()
    except errors.UnsupportedSyntaxError as error:
        if not observed or getattr(error, "refuses_the_observed_rank", False):
            raise
        refused = error
    source = read_source(function)
    own, seen = infer_kinds(source), infer_kinds(source, observed=observed)
    contradicted = [name for name in own if own[name] != seen[name]]
    if not any(own[name] in ARRAY_KINDS for name in contradicted):  # (an array where the body may read a number)
        for name in [name for name in contradicted if name in observed]:
            try:
                Lifter(function, {k: v for k, v in observed.items() if k != name}, array_output).lift()
            except errors.UnsupportedSyntaxError:
                continue
            if own[name] not in INDEX_KINDS:
                refused.msg += (f"; the first call passed {name!r} as an array, and with a number there the "
                                f"function lifts: if {name} is a number, pass a float")
            elif f"np.asarray({name}, dtype=np.int64)" not in refused.msg:
                refused.msg += (f"; the first call passed {name!r} as floats, and as an array of indices the "
                                f"function lifts: pass np.asarray({name}, dtype=np.int64)")
            break
        raise refused
    for name in [name for name in contradicted if name in observed]:
        try:
            return Lifter(function, {k: v for k, v in observed.items() if k != name}, array_output).lift()
        except errors.UnsupportedSyntaxError:
            pass
    try:
        return Lifter(function, array_output=array_output).lift()
    except errors.UnsupportedSyntaxError:
        raise refused from None


FRAMES_PER_LEVEL = 10  # Python frames the stages spend per level of nesting in the source (measured: about 7)
_DEEP_STACK_BYTES = 1 << 29
_deep_lock = threading.Lock()
_deep_depth = [0, None]  # derivations running deep, and the recursion limit before the first of them


def _negative_zero(node):
    """Whether `node` is the literal -0.0 (which SymPy, with no signed zero, reads as 0)."""
    try:
        value = ast.literal_eval(node)
    except ValueError:
        return False
    return isinstance(value, float) and value == 0 and math.copysign(1.0, value) < 0


def with_room_to_recurse(function, *args):
    """`function(*args)` in a thread with a large stack and a recursion limit `FRAMES_PER_LEVEL` times Python's.

    The stages recurse once per level of the source's nesting (inlined helpers, nested calls), several frames each,
    so a chain of nested helpers that plain Python runs would otherwise end in a RecursionError; the large stack
    keeps the raised limit safe."""
    outcome = {}

    def run():
        try:
            outcome["value"] = function(*args)
        except BaseException as exc:  # handed to the calling thread below
            outcome["error"] = exc

    with _deep_lock:
        if _deep_depth[0] == 0:
            _deep_depth[1] = sys.getrecursionlimit()
            sys.setrecursionlimit(max(_deep_depth[1], FRAMES_PER_LEVEL * 1000 + 1000))
        _deep_depth[0] += 1
        previous = threading.stack_size(_DEEP_STACK_BYTES)
        try:
            thread = threading.Thread(target=run, name="symgrad-derive", daemon=True)
            thread.start()
        finally:
            threading.stack_size(previous)
    try:
        thread.join()
    finally:
        with _deep_lock:
            _deep_depth[0] -= 1
            if _deep_depth[0] == 0:
                sys.setrecursionlimit(_deep_depth[1])
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _as_in_piecewise(condition):
    """`condition` as a Piecewise holds it: SymPy rewrites `x > 0.0` there as `x > 0`, so the guard of an `else:`
    is compared with the negated condition of the `if:` side's store in that form (`if z > 0.0: h[j] = z else:
    h[j] = 0.0` is then one store, as with `z > 0`, not two taped ones)."""
    pieces = sp.Piecewise((sp.Integer(1), condition), (sp.Integer(0), True)).args
    return pieces[0][1] if len(pieces) == 2 else condition
