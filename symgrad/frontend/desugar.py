"""Spellings rewritten on the parsed source into forms the lifter takes, each keeping its line and column.

- `f = lambda t: e` (a lambda bound to a local name) becomes `def f(t): return e`, a nested helper;
- `reversed(range(a, b, k))` (k an integer literal, 1 by default) becomes the same numbers as one `range` with
  the opposite step: `range(b - 1, a - 1, -1)` for k = 1, else `range(a + (b - a - s) // k * k, a - k, -k)` with
  s = 1 for a positive k and -1 for a negative one (the last number of the range first);
- a counted `while` (`while i < n:` whose last statement is `i += c`, c an integer literal moving i towards n, and
  no other statement assigning i or a name of n) becomes `for i in range(i, n, c):` without that statement (`<=`
  stops at n + 1, `>`/`>=` count down), its condition kept as `COUNTED_WHILE` for the lifter's messages.  The
  counter's value after the loop is not kept (the lifter refuses reading it there, as after any kept `for`).

`reversed` and `range` are rewritten only where they are Python's own (no global or closure variable of that name).
"""

import ast
import builtins

COUNTED_WHILE = "symgrad_counted_while"  # (the attribute of a `for` made of a counted `while`: its condition)
# The direction each comparison of the counter with its bound needs (the sign of the step), and the bound's shift.
COUNTED = {ast.Lt: (1, 0), ast.LtE: (1, 1), ast.Gt: (-1, 0), ast.GtE: (-1, -1)}
FLIPPED = {ast.Lt: ast.Gt, ast.LtE: ast.GtE, ast.Gt: ast.Lt, ast.GtE: ast.LtE}


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

    def visit_While(self, node):
        self.generic_visit(node)
        return self.counted(node) or node

    def counted(self, node):
        """`while i < n: ...; i += c` as `for i in range(i, n, c): ...`, or None when the loop is not counted."""
        step = _counter_step(node.body[-1])
        test = node.test
        if step is None or node.orelse or "range" in self.shadowed or not (
                isinstance(test, ast.Compare) and len(test.ops) == 1 and type(test.ops[0]) in COUNTED):
            return None
        counter, c = step
        op, bound = type(test.ops[0]), test.comparators[0]
        if not (isinstance(test.left, ast.Name) and test.left.id == counter):
            op, bound = FLIPPED[op], test.left  # (`n > i` is `i < n`)
            if not (isinstance(test.comparators[0], ast.Name) and test.comparators[0].id == counter):
                return None
        direction, shift = COUNTED[op]
        changed = {n.id for statement in node.body[:-1] for n in ast.walk(statement)
                   if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        if c * direction <= 0 or changed & ({counter} | {n.id for n in ast.walk(bound) if isinstance(n, ast.Name)}):
            return None
        stop = _minus(bound, -shift) if shift else bound
        call = ast.Call(func=ast.Name("range", ast.Load()), args=[ast.Name(counter, ast.Load()), stop,
                                                                   ast.Constant(c)], keywords=[])
        for part in ast.walk(call):
            if not hasattr(part, "lineno"):
                ast.copy_location(part, test)
        loop = ast.For(target=ast.copy_location(ast.Name(counter, ast.Store()), test), iter=call,
                       body=node.body[:-1] or [ast.copy_location(ast.Pass(), node)], orelse=[], type_comment=None)
        setattr(loop, COUNTED_WHILE, test)
        return ast.copy_location(loop, node)

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


def _counter_step(statement):
    """`(name, c)` for `name += c`, `name -= c` or `name = name + c` (c an integer literal), else None."""
    if isinstance(statement, ast.AugAssign) and isinstance(statement.target, ast.Name):
        name, op, amount = statement.target.id, statement.op, statement.value
    elif (isinstance(statement, ast.Assign) and len(statement.targets) == 1
          and isinstance(statement.targets[0], ast.Name) and isinstance(statement.value, ast.BinOp)
          and isinstance(statement.value.left, ast.Name) and statement.value.left.id == statement.targets[0].id):
        name, op, amount = statement.targets[0].id, statement.value.op, statement.value.right
    else:
        return None
    c = _literal_int(amount)
    if c is None or not isinstance(op, (ast.Add, ast.Sub)):
        return None
    return name, c if isinstance(op, ast.Add) else -c
