"""Argument kinds (float, int, 1-D or 2-D array), read off the source before lifting."""

import ast
import builtins
import types

import numpy as np

from .. import errors
from ..cache import INLINE_ATTRIBUTE
from ..ir import ARRAY1, ARRAY2, FLOAT, INT
from ..rules import Maximum, Minimum
from .source import Frame, read_source

# NumPy calls that make a local array of zeros, and those that reduce arrays to a number.
ARRAY_CONSTRUCTORS = {id(np.zeros), id(np.empty)}
ARRAY_LIKE_CONSTRUCTORS = {id(np.zeros_like), id(np.empty_like)}
ARRAY_REDUCTIONS = {id(np.sum), id(builtins.sum), id(np.dot)}
# max/min of one array: the largest or smallest element (builtin max/min of one argument iterates over it).
ARRAY_EXTREMES = {id(builtins.max): Maximum, id(np.max): Maximum, id(np.amax): Maximum,
                  id(builtins.min): Minimum, id(np.min): Minimum, id(np.amin): Minimum}


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


def _names_in(node):
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def infer_kinds(source, seen=None):
    """Each parameter's kind from how the body uses it: indexed -> array (1-D or 2-D by the number of
    indices, or by `.shape[1]`), `len`/`.shape`/`np.sum`/`np.dot`/`@` -> array, in a `range` or an index -> int,
    else float."""
    seen = (seen or set()) | {source.function}
    frame = Frame(source, {})
    parameters = [p.arg for p in source.definition.args.posonlyargs + source.definition.args.args
                  + source.definition.args.kwonlyargs]
    ndims, integers = {}, set()
    aliases = {node.targets[0].id: node.value.id for node in ast.walk(source.definition)
               if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
               and isinstance(node.value, ast.Name) and node.value.id in parameters}

    def array(name, ndim):
        name = aliases.get(name, name)
        if name in parameters:
            ndims[name] = max(ndims.get(name, 0), ndim)

    for node in ast.walk(source.definition):
        if isinstance(node, ast.Subscript):
            depth, base = 0, node
            while isinstance(base, ast.Subscript):
                depth += len(base.slice.elts) if isinstance(base.slice, ast.Tuple) else 1
                integers |= _names_in(base.slice)
                base = base.value
            if isinstance(base, ast.Name):
                array(base.id, depth)
            shape = node.value
            if (isinstance(shape, ast.Attribute) and shape.attr == "shape" and isinstance(shape.value, ast.Name)
                    and isinstance(node.slice, ast.Constant) and type(node.slice.value) is int):
                array(shape.value.id, node.slice.value + 1)  # X.shape[1]: X has two dimensions at least
        elif isinstance(node, ast.Attribute) and node.attr in ("shape", "size") and isinstance(node.value, ast.Name):
            array(node.value.id, 1)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            for side in (node.left, node.right):
                if isinstance(side, ast.Name):
                    array(side.id, 1)
        elif isinstance(node, ast.Call):
            target = static_target(frame, node.func)
            arguments = [a.id if isinstance(a, ast.Name) else None for a in node.args]
            if target is range:
                for argument in node.args:
                    integers |= _names_in(argument)
            elif (id(target) in ARRAY_REDUCTIONS | ARRAY_LIKE_CONSTRUCTORS or target is len
                  or id(target) in ARRAY_EXTREMES and len(node.args) == 1):
                for name in arguments:
                    if name and not (target is builtins.sum and isinstance(node.args[0], ast.GeneratorExp)):
                        array(name, 1)
            elif isinstance(getattr(target, INLINE_ATTRIBUTE, target), types.FunctionType):
                helper = getattr(target, INLINE_ATTRIBUTE, target)
                if helper in seen:
                    continue
                try:
                    helper_source = read_source(helper)
                except errors.UnsupportedSyntaxError:
                    continue  # the lifter reports it where the call is lifted
                helper_kinds = infer_kinds(helper_source, seen)
                helper_parameters = list(helper_kinds)
                for position, name in enumerate(arguments):
                    if name and position < len(helper_parameters):
                        kind = helper_kinds[helper_parameters[position]]
                        if kind in (ARRAY1, ARRAY2):
                            array(name, 1 if kind == ARRAY1 else 2)
                        elif kind == INT and name in parameters:
                            integers.add(name)
    kinds = {}
    for name in parameters:
        if name in ndims:
            kinds[name] = ARRAY1 if ndims[name] == 1 else ARRAY2
        else:
            kinds[name] = INT if name in integers else FLOAT
    return kinds
