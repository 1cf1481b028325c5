"""Spellings rewritten on the parsed source into forms the lifter takes, each keeping its line and column.

- `f = lambda t: e` (a lambda bound to a local name) becomes `def f(t): return e`, a nested helper;
- `reversed(range(a, b, k))` (k an integer literal, 1 by default) becomes the same numbers as one `range` with
  the opposite step: `range(b - 1, a - 1, -1)` for k = 1, else `range(a + (b - a - s) // k * k, a - k, -k)` with
  s = 1 for a positive k and -1 for a negative one (the last number of the range first).

`reversed` and `range` are rewritten only where they are Python's own (no global or closure variable of that name).
"""

import ast
import builtins


def desugared(definition, function):
    """The definition with the spellings above rewritten (in place; the tree is the lifter's own copy)."""
    shadowed = set(function.__code__.co_freevars) | {
        name for name in ("reversed", "range") if function.__globals__.get(name, getattr(builtins, name))
        is not getattr(builtins, name)}
    _Rewriter(shadowed).visit(definition)
    ast.fix_missing_locations(definition)
    return definition


class _Rewriter(ast.NodeTransformer):
    def __init__(self, shadowed):
        self.shadowed = shadowed

    def visit_Assign(self, node):
        self.generic_visit(node)
        if len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.Lambda):
            body = ast.copy_location(ast.Return(value=node.value.body), node.value.body)
            return ast.copy_location(ast.FunctionDef(name=node.targets[0].id, args=node.value.args, body=[body],
                                                     decorator_list=[], returns=None, type_comment=None), node)
        return node

    def visit_For(self, node):
        self.generic_visit(node)
        node.iter = self.forward_range(node.iter)
        return node

    def visit_comprehension(self, node):
        self.generic_visit(node)
        node.iter = self.forward_range(node.iter)
        return node

    def is_builtin_call(self, node, name):
        return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name
                and name not in self.shadowed and not node.keywords)

    def forward_range(self, node):
        """`reversed(range(...))` as one `range` with a literal step; any other iterable as it is."""
        if not (self.is_builtin_call(node, "reversed") and len(node.args) == 1
                and self.is_builtin_call(node.args[0], "range") and 1 <= len(node.args[0].args) <= 3):
            return node
        args = node.args[0].args
        start, stop = (ast.Constant(0), args[0]) if len(args) == 1 else args[:2]
        step = _literal_int(args[2]) if len(args) == 3 else 1
        if not step:
            return node  # (a step that is not a non-zero literal: refused where the range is lifted)
        if step == 1:
            first, last = _minus(stop, 1), _minus(start, 1)
        else:
            count = ast.BinOp(ast.BinOp(_minus(stop, start), ast.Sub(), ast.Constant(1 if step > 0 else -1)),
                              ast.FloorDiv(), ast.Constant(step))
            first = ast.BinOp(start, ast.Add(), ast.BinOp(count, ast.Mult(), ast.Constant(step)))
            last = _minus(start, ast.Constant(step))
        call = ast.Call(func=ast.Name("range", ast.Load()), args=[first, last, ast.Constant(-step)], keywords=[])
        for part in ast.walk(call):
            if not hasattr(part, "lineno"):
                ast.copy_location(part, node)
        return ast.copy_location(call, node)


def _minus(a, b):
    return ast.BinOp(a, ast.Sub(), b if isinstance(b, ast.AST) else ast.Constant(b))


def _literal_int(node):
    """The value of an integer literal (`2`, `-1`), or None."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value = _literal_int(node.operand)
        return None if value is None else -value
    return node.value if isinstance(node, ast.Constant) and type(node.value) is int else None
