"""Argument kinds (float, int, float64 array of 1 to 3 axes, int vector of indices), read off the source before
lifting."""

import ast
import builtins
import math
import types

import numpy as np

from .. import errors
from ..cache import INLINE_ATTRIBUTE
from ..ir import ARRAY_KINDS, FLOAT, INDEX_KINDS, INT, KIND_OF_AXES
from .source import Frame, read_source

# NumPy calls that make a local array of zeros.
ARRAY_CONSTRUCTORS = {id(np.zeros), id(np.empty)}
ARRAY_LIKE_CONSTRUCTORS = {id(np.zeros_like), id(np.empty_like)}
# Calls whose bare-name arguments are arrays: reductions, products and functions with no meaning on a number.
ARRAY_FUNCTIONS = {id(f) for f in (np.sum, np.mean, np.prod, np.dot, np.matmul, np.inner, np.outer, np.trace,
                                   np.transpose, np.linalg.norm, np.linalg.cholesky, np.linalg.solve, np.linalg.inv,
                                   np.linalg.det, np.linalg.slogdet, np.sort, np.median, np.zeros_like, np.empty_like,
                                   np.ones_like, np.full_like, np.copy, np.cumsum, np.diff, np.size, np.reshape,
                                   np.ravel, np.expand_dims, np.swapaxes, np.std, np.var, np.diag, np.triu, np.tril,
                                   np.roll, np.pad, np.flip, np.fliplr, np.flipud, np.argmax, np.argmin, np.argsort,
                                   np.take, np.take_along_axis, np.tensordot, np.vdot, np.kron, np.cumprod, np.ptp,
                                   np.average, np.nansum, np.nanprod, np.nanmean, np.nanmax, np.nanmin, np.moveaxis,
                                   np.diagonal, np.squeeze, len)}
# builtin sum/max/min of one argument iterate over it, and NumPy's max/min reduce one array.
ITERATING = {id(builtins.sum), id(math.prod), id(builtins.max), id(builtins.min), id(np.max), id(np.amax), id(np.min),
             id(np.amin)}
# Calls whose arguments at these positions, or of these keywords, are integers (shifts, widths, diagonals, sizes,
# norm orders).
INTEGER_ARGUMENTS = {id(np.roll): ((1,), "shift"), id(np.pad): ((1,), "pad_width"), id(np.triu): ((1,), "k"),
                     id(np.tril): ((1,), "k"), id(np.diag): ((1,), "k"), id(np.diagonal): ((1,), "offset"),
                     id(np.tensordot): ((2,), "axes"), id(np.tile): ((1,), "reps"),
                     id(np.repeat): ((1,), "repeats"), id(np.zeros): ((0,), "shape"), id(np.empty): ((0,), "shape"),
                     id(np.ones): ((0,), "shape"), id(np.full): ((0,), "shape"), id(np.eye): ((0, 1, 2), "N"),
                     id(np.identity): ((0,), "n"), id(np.linspace): ((2,), "num"), id(np.linalg.norm): ((1,), "ord")}
# Calls whose arguments at these positions, or of these keywords, are arrays of indices (`np.take(x, idx)`,
# `np.take_along_axis(logp, y[:, None], axis=1)`).
INDEX_ARGUMENTS = {id(np.take): ((1,), "indices"), id(np.take_along_axis): ((1,), "indices")}
# Calls that make a vector of indices: a gather by one keeps the axis (`x[np.argsort(x)][:3]` is of a vector).
INDEX_ARRAY_CALLS = {id(np.argsort), id(np.arange), id(np.flatnonzero)}
ARRAY_METHODS = {"sum", "mean", "prod", "max", "min", "std", "var", "cumsum", "cumprod", "diagonal", "dot",
                 "transpose", "reshape", "ravel", "flatten", "argmax", "argmin", "copy", "clip", "trace", "squeeze"}


def static_target(frame, node):
    """The object a call's function expression names (a module attribute or a global), or None."""
    try:
        if isinstance(node, ast.Name):
            return frame.resolve(node.id)
        if isinstance(node, ast.Attribute):
            base = static_target(frame, node.value)
            return getattr(base, node.attr, None) if isinstance(base, types.ModuleType) else None
    except KeyError:
        return None
    return None


# Calls that make an int of a float: the names inside them are not read as integers (`table[int(t / h)]`); and
# calls whose result is a condition, a mask in an index (`x[np.isfinite(y)]`).
INT_OF_FLOAT = {id(int), id(round), id(math.floor), id(math.ceil), id(math.trunc)}
CONDITION_CALLS = {id(f) for f in (np.isnan, np.isinf, np.isfinite, np.signbit, np.logical_and, np.logical_or,
                                   np.logical_not, np.logical_xor, math.isnan, math.isinf, math.isfinite)}


def _integer_parts(node, frame):
    """The parts of an integer expression (an index, a bound, a size) read as integers: not those inside a call
    that makes an int of a float, nor those of a condition, a mask (`out[(x > a) & (x < b)]`, `x[~np.isnan(y)]`)."""
    pending = [node]
    while pending:
        part = pending.pop()
        if isinstance(part, ast.Compare) or isinstance(part, ast.Call) and id(static_target(
                frame, part.func)) in INT_OF_FLOAT | CONDITION_CALLS:
            continue
        yield part
        pending.extend(ast.iter_child_nodes(part))


def _integer_names_in(node, frame):
    """The names an integer expression reads as integers."""
    return {part.id for part in _integer_parts(node, frame) if isinstance(part, ast.Name)}


def _arrays_read_in(node, frame):
    """The arrays whose elements an integer expression reads: `idx` in `x[idx[k] + 1]`, `indptr` in
    `range(indptr[i], indptr[i + 1])`."""
    return {part.value.id for part in _integer_parts(node, frame)
            if isinstance(part, ast.Subscript) and isinstance(part.value, ast.Name)}


def _transposed_name(node):
    """The name `node` reads whole, as it is or transposed (`x`, `bonds.T`), or None."""
    if isinstance(node, ast.Attribute) and node.attr == "T":
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _is_new_axis(node):
    return (isinstance(node, ast.Constant) and node.value is None) or (
        isinstance(node, ast.Attribute) and node.attr == "newaxis")


def _axis_keyword(node):
    """The literal `axis=k` of a call, or None."""
    for keyword in node.keywords:
        if keyword.arg == "axis" and isinstance(keyword.value, ast.Constant) and type(keyword.value.value) is int:
            return keyword.value.value
    return None


def _reached_children(node):
    """The child nodes of `node`, less the statements after a `return` in the same block: they never run, and the
    lifter does not lift them (`Lifter.run_block`), so they decide no kind (`range(n)` there would make an int of an
    `n` that Python never uses as one)."""
    for value in (value for _, value in ast.iter_fields(node)):
        if isinstance(value, list):
            end = next((k + 1 for k, v in enumerate(value) if isinstance(v, ast.Return)), len(value))
            yield from (v for v in value[:end] if isinstance(v, ast.AST))
        elif isinstance(value, ast.AST):
            yield value


def _scoped_walk(definition):
    """Every node under `definition` that can run, with the names that a nested `def` around it makes its own (its
    arguments and what it assigns): there they are not the outer function's arguments."""
    pending = [(child, frozenset()) for child in _reached_children(definition)]
    while pending:
        node, shadowed = pending.pop()
        yield node, shadowed
        if isinstance(node, ast.FunctionDef):
            shadowed = shadowed | {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)} | {
                n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        pending.extend((child, shadowed) for child in _reached_children(node))


def _read_into_indices(definition, frame, integers):
    """The arrays whose elements the body binds to names it indexes with: `i = bi[b]` (a name of `integers`), the
    rows of a table unpacked into such names (`i, j = bonds[b]`, `for i, j in bonds`), and the sequences of a
    `for` over them (`for i in bi`, `zip(bi, bj)`, `enumerate(bi)`)."""

    def indexing(target):
        names = target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]
        return names and all(isinstance(n, ast.Name) for n in names) and any(n.id in integers for n in names)

    found = set()
    for node in ast.walk(definition):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Tuple) \
                and isinstance(node.value, ast.Tuple):  # (i, j = bonds[b, 0], bonds[b, 1])
            pairs = zip(node.targets[0].elts, node.value.elts)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            pairs = [(node.targets[0], node.value)]
        else:
            pairs = []
        for target, value in pairs:
            if indexing(target) and isinstance(value, ast.Subscript) and isinstance(value.value, ast.Name):
                found.add(value.value.id)
        if isinstance(node, (ast.For, ast.comprehension)):
            for target, iterable in _iterated(node.target, node.iter, frame):
                if indexing(target) and isinstance(iterable, ast.Name):
                    found.add(iterable.id)
    return found


def _iterated(target, iterable, frame):
    """The (target, sequence) pairs of a `for` that takes elements of sequences: `for i in bi`, `zip(bi, bj)`,
    `enumerate(bi)`, nested (`for b, (i, j) in enumerate(zip(bi, bj))`)."""
    function = static_target(frame, iterable.func) if isinstance(iterable, ast.Call) else None
    elements = target.elts if isinstance(target, (ast.Tuple, ast.List)) else None
    if function is enumerate and iterable.args and elements and len(elements) == 2:
        yield from _iterated(elements[1], iterable.args[0], frame)
    elif function is zip and elements and len(elements) == len(iterable.args):
        for element, sequence in zip(elements, iterable.args):
            yield from _iterated(element, sequence, frame)
    elif function not in (enumerate, zip):
        yield target, iterable


def infer_kinds(source, seen=None, observed=None):
    """Each parameter's kind from how the body uses it: an array of at least as many axes as its uses show
    (indices, `.shape[k]`, `axis=k`; `len`, `np.sum`, `@`, methods such as `.sum()`: one at least; `.T`: two
    unless the first call passes a vector), an int where it is a `range` bound or an index, else a float; an int64
    array of indices (INDEX1, INDEX2 by its axes) where it indexes another array (`x[idx]`, a gather) and is an
    array itself (`x[idx[k]]`, `pos[bonds[b, 0]]`) or the first call passed an int array of one or two axes.
    `observed` (argument -> the kind of the array the first call passed: ARRAY1 to ARRAY3 by its axes, INDEX1
    and INDEX2 for an int array) decides the number of axes where the body allows it (`xs[t]` is a row of a matrix), and
    makes an array of an argument the body only uses elementwise (`np.exp(x)`), as Numba keys a compilation by
    the types of the first call."""
    seen = (seen or set()) | {source.function}
    observed = observed or {}
    frame = Frame(source, {})
    parameters = [p.arg for p in source.definition.args.posonlyargs + source.definition.args.args
                  + source.definition.args.kwonlyargs]
    ndims, integers, indexing = {}, set(), set()  # (indexing: names that index an array whole, or their base)
    in_indices = set()  # names read in an index
    transposed = set()  # names read as `.T`: two axes, unless the first call passes fewer
    aliases = {node.targets[0].id: _transposed_name(node.value) for node in ast.walk(source.definition)
               if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
               and _transposed_name(node.value) in parameters}  # (`v = x`, `bt = bonds.T`: the same axes)

    shadowed = frozenset()  # the names the nested `def` around the node makes its own

    def array(name, ndim):
        """`name` is an array of `ndim` axes at least."""
        name = aliases.get(name, name)
        if name in parameters and name not in shadowed:
            ndims[name] = max(ndims.get(name, 0), ndim)

    for node, shadowed in _scoped_walk(source.definition):
        if isinstance(node, ast.Subscript):
            levels, base = [], node
            while isinstance(base, ast.Subscript):
                elements = base.slice.elts if isinstance(base.slice, ast.Tuple) else [base.slice]
                levels.append(elements)
                for element in elements:
                    parts = [p for p in ((element.lower, element.upper) if isinstance(element, ast.Slice) else
                                         (element,)) if p is not None]
                    integers |= set().union(set(), *(_integer_names_in(p, frame) for p in parts)) - shadowed
                    indexing |= set().union(set(), *(_arrays_read_in(p, frame) for p in parts)) - shadowed
                    if not isinstance(element, ast.Slice):  # (`x[starts - 1]`: starts may be an array of indices)
                        in_indices |= _integer_names_in(element, frame) - shadowed
                    while isinstance(element, ast.Subscript):
                        element = element.value
                    if isinstance(element, ast.Name):
                        indexing.add(element.id)
                base = base.value
            # The base's axes: each level of a chain (innermost first) needs one per index it has, beyond those
            # the levels before it took away (an integer takes one, a new axis gives one, a slice or a gather by
            # np.argsort keeps it, a gather by an observed array of indices gives one less than its own: x[idx][1:]
            # is a vector).
            depth, taken = 0, 0
            for elements in reversed(levels):
                elements = [e for e in elements if not (isinstance(e, ast.Constant) and e.value is Ellipsis)]
                depth = max(depth, taken + sum(not _is_new_axis(e) for e in elements))
                taken += sum(-1 if _is_new_axis(e) else 0 if isinstance(e, ast.Slice) or isinstance(
                    e, ast.Call) and id(static_target(frame, e.func)) in INDEX_ARRAY_CALLS else
                    1 - INDEX_KINDS[observed[e.id]] if isinstance(e, ast.Name) and observed.get(e.id) in INDEX_KINDS
                    else 1 for e in elements)
            if isinstance(base, ast.Name):
                array(base.id, depth)
            shape = node.value
            if (isinstance(shape, ast.Attribute) and shape.attr == "shape" and isinstance(shape.value, ast.Name)
                    and isinstance(node.slice, ast.Constant) and type(node.slice.value) is int):
                array(shape.value.id, node.slice.value + 1)  # X.shape[1]: X has two dimensions at least
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.attr in ("shape", "size", "ndim", "T"):
                array(node.value.id, 1)
            if node.attr == "T":  # (a matrix until a call shows a vector: `x.T @ A @ x` of a vector is a number)
                transposed.add(aliases.get(node.value.id, node.value.id))
        elif isinstance(node, (ast.For, ast.comprehension)):  # `for v in x`, enumerate(x), zip(x, y)
            iterables = [node.iter]
            while iterables and isinstance(iterables[-1], ast.Call) and static_target(
                    frame, iterables[-1].func) in (enumerate, zip):
                iterables = iterables[:-1] + list(iterables[-1].args[:1 if static_target(
                    frame, iterables[-1].func) is enumerate else None])
            for iterable in iterables:
                if isinstance(iterable, ast.Name):
                    array(iterable.id, 1)
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], (ast.Tuple, ast.List)) \
                and isinstance(node.value, ast.Name):  # (`a, b = theta`: unpacked along its first axis)
            array(node.value.id, 1)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            for side in (node.left, node.right):
                if isinstance(side, ast.Name):
                    array(side.id, 1)
        elif isinstance(node, ast.Call):
            axis = _axis_keyword(node)
            method = node.func
            target = static_target(frame, node.func)
            if target is np.expand_dims and axis is not None:  # (its axis counts the new one: up to a.ndim)
                axis = axis - 1 if axis > 0 else axis + 1 if axis < -1 else None
            least = 1 if axis is None else axis + 1 if axis >= 0 else -axis
            if isinstance(method, ast.Attribute) and method.attr == "reshape" or target is np.reshape:
                for size in node.args[0 if target is not np.reshape else 1:]:
                    integers |= _integer_names_in(size, frame)  # (x.reshape(n, 2): the sizes are integers)
            if isinstance(method, ast.Attribute) and isinstance(method.value, ast.Name) \
                    and method.attr in ARRAY_METHODS and method.value.id in parameters:
                array(method.value.id, least)
                continue
            arguments = [a.id if isinstance(a, ast.Name) else None for a in node.args]
            positions, keyword = INTEGER_ARGUMENTS.get(id(target), INDEX_ARGUMENTS.get(id(target), ((), None)))
            for part in [a for k, a in enumerate(node.args) if k in positions] + [
                    k.value for k in node.keywords if k.arg == keyword]:
                integers |= _integer_names_in(part, frame) - shadowed
                while id(target) in INDEX_ARGUMENTS and isinstance(part, ast.Subscript):
                    part = part.value
                if id(target) in INDEX_ARGUMENTS and isinstance(part, ast.Name):
                    indexing.add(part.id)
            if target is np.einsum and node.args and isinstance(node.args[0], ast.Constant) and isinstance(
                    node.args[0].value, str):  # ('ij,j->i', A, x): A has two axes, x one
                terms = node.args[0].value.replace(" ", "").partition("->")[0].split(",")
                for name, term in zip(arguments[1:], terms):
                    if name:  # (`...` may stand for no axis)
                        array(name, max(len(term.replace("...", "")), 1))
            elif target is range:
                for argument in node.args:
                    integers |= _integer_names_in(argument, frame) - shadowed
                    indexing |= _arrays_read_in(argument, frame) - shadowed
            elif id(target) in ARRAY_FUNCTIONS or id(target) in ITERATING and len(node.args) == 1:
                for position, name in enumerate(arguments):
                    if name and position not in positions:
                        array(name, least)
            elif isinstance(getattr(target, INLINE_ATTRIBUTE, target), types.FunctionType):
                helper = getattr(target, INLINE_ATTRIBUTE, target)
                if helper in seen:
                    continue
                try:
                    helper_source = read_source(helper)
                except errors.UnsupportedSyntaxError:
                    continue  # the lifter reports it where the call is lifted
                arguments_of = helper_source.definition.args
                helper_parameters = [p.arg for p in arguments_of.posonlyargs + arguments_of.args]
                passed = {parameter: observed[name] for parameter, name in zip(helper_parameters, arguments)
                          if name in observed and name not in shadowed}  # (`v.T` of a vector passed is a vector)
                helper_kinds = infer_kinds(helper_source, seen, passed)
                helper_parameters = list(helper_kinds)
                for position, name in enumerate(arguments):
                    if name and position < len(helper_parameters):
                        kind = helper_kinds[helper_parameters[position]]
                        if kind in ARRAY_KINDS:
                            array(name, ARRAY_KINDS[kind])
                        elif kind in INDEX_KINDS and name in parameters and name not in shadowed:
                            indexing.add(name)
                            integers.add(name)
                        elif kind == INT and name not in shadowed:  # (a local too: `for i, j in bonds`, then
                            integers.add(name)  # `pair(pos, i, j)` of a helper indexing with i: bonds are indices)
                for position, argument in enumerate(node.args[:len(helper_parameters)]):
                    column = argument
                    while isinstance(column, ast.Subscript):  # (`gather(x, bonds[:, 0])`: bonds are indices)
                        column = column.value
                    if column is not argument and isinstance(column, ast.Name) and column.id not in shadowed \
                            and helper_kinds[helper_parameters[position]] in (INT, *INDEX_KINDS):
                        indexing.add(column.id)
                        integers.add(column.id)
    integers |= {aliases[name] for name in integers if name in aliases}
    indexing |= {aliases[name] for name in indexing if name in aliases}
    for name in _read_into_indices(source.definition, frame, integers) & set(parameters):
        indexing.add(name)  # (`i = bi[b]`, `for i, j in zip(bi, bj)`, then `pos[i]`: bi and bj are indices)
        integers.add(name)
    kinds = {}
    for name in parameters:
        seen = observed.get(name)
        seen_axes = ARRAY_KINDS.get(seen, INDEX_KINDS.get(seen, 0))
        index_axes = max(seen_axes, ndims.get(name, 1))
        if name in integers and index_axes in INDEX_KINDS.values() and (
                name in indexing and (seen in INDEX_KINDS or seen is None and name in ndims)
                or name in in_indices and seen in INDEX_KINDS):  # (`x[starts - 1]` of an int array passed)
            kinds[name] = next(kind for kind, axes in INDEX_KINDS.items() if axes == index_axes)
        elif name in ndims:
            least = max(ndims[name], 2) if name in transposed and not seen_axes else ndims[name]
            kinds[name] = KIND_OF_AXES.get(max(seen_axes, least), KIND_OF_AXES[max(ARRAY_KINDS.values())])
        elif name in integers:
            kinds[name] = INT
        else:
            kinds[name] = KIND_OF_AXES.get(seen_axes, FLOAT)
    return kinds
