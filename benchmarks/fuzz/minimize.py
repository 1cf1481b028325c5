"""Delta debugging for a failing program: remove what the failure does not need, keep what it does.

Each step proposes a smaller program (one statement removed, an `if` replaced by one of its branches, one term of
the return expression dropped, one argument removed) and keeps it when the worker still gives the same outcome.
The steps repeat until none helps or the budget of tries is spent; every try costs a derivation and a compile.
"""

import ast
import re

PROTECTED = (ast.Import, ast.ImportFrom)


def statements(tree):
    """Every statement in preorder, with the body list holding it, except imports and f's own definition."""
    found = []

    def walk(body):
        for node in body:
            if not isinstance(node, PROTECTED) and not (isinstance(node, ast.FunctionDef) and node.name == "f"):
                found.append((body, node))
            for attribute in ("body", "orelse"):
                inner = getattr(node, attribute, None)
                if isinstance(inner, list):
                    walk(inner)

    walk(tree.body)
    return found


def without_statement(source, position):
    tree = ast.parse(source)
    body, node = statements(tree)[position]
    body.remove(node)
    if not body:
        body.append(ast.Pass())
    return ast.unparse(tree)


def with_branch(source, position, branch):
    """The `if` at `position` replaced by its body or its else-part."""
    tree = ast.parse(source)
    body, node = statements(tree)[position]
    if not isinstance(node, ast.If):
        return None
    chosen = getattr(node, branch) or [ast.Pass()]
    index = body.index(node)
    body[index:index + 1] = chosen
    return ast.unparse(tree)


def with_return_operand(source, side):
    """f's final return keeping one side of its top-level binary operation."""
    tree = ast.parse(source)
    function = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "f")
    final = function.body[-1]
    if not (isinstance(final, ast.Return) and isinstance(final.value, ast.BinOp)):
        return None
    final.value = getattr(final.value, side)
    return ast.unparse(tree)


def without_argument(program, name):
    tree = ast.parse(program["source"])
    function = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "f")
    function.args.args = [a for a in function.args.args if a.arg != name]
    wrt = [w for w in program["wrt"] if w != name]
    if not wrt:
        return None
    args = {k: v for k, v in program["args"].items() if k != name}
    return dict(program, source=ast.unparse(tree), args=args, wrt=wrt)


def candidates(program):
    """Smaller programs, biggest cuts first."""
    source = program["source"]
    for side in ("left", "right"):
        smaller = with_return_operand(source, side)
        if smaller:
            yield dict(program, source=smaller)
    for position in range(len(statements(ast.parse(source)))):
        yield dict(program, source=without_statement(source, position))
        for branch in ("body", "orelse"):
            smaller = with_branch(source, position, branch)
            if smaller:
                yield dict(program, source=smaller)
    for name in program["args"]:
        smaller = without_argument(program, name)
        if smaller:
            yield smaller


def signature(verdict):
    """What must stay the same while shrinking: the outcome and the exception classes it names (so that an internal
    error does not drift into another one)."""
    return verdict["outcome"], tuple(sorted(set(re.findall(r"\b[A-Z]\w*Error\b", verdict["detail"] or ""))))


def minimize(program, verdict, judge, tries=60):
    """The smallest program found that `judge` still gives the same `signature`, and the number of tries spent.

    After a successful cut the search resumes where it was (earlier cuts already failed), and one last pass from
    the start checks that no earlier cut has become possible."""
    wanted = signature(verdict)
    spent, start, fresh_pass = 0, 0, False
    while spent < tries:
        for position, smaller in enumerate(candidates(program)):
            if position < start:
                continue
            if spent >= tries:
                break
            spent += 1
            if signature(judge(smaller)) == wanted:
                program, start, fresh_pass = smaller, max(0, position - 1), False
                break
        else:
            if start == 0 or fresh_pass:
                break
            start, fresh_pass = 0, True
    return program, spent
