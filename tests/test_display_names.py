"""What `str()` and `.latex()` print must be self-contained: every name a line reads is an argument (or an
argument's size), a loop or sum index, or a name an earlier line (or the line's own left side) defines.

The listing is parsed back, line by line, in both forms, for programs that used to print names they never defined
(`pred_2`, `a_3` of an MLP whose loops were folded into sums, `h_before` of a restored array element)."""

import re

import pytest

SOURCE = '''
import math
import numpy as np
import symgrad as sg


@sg.value_and_grad(wrt=("W1", "b1", "w2"))
def mlp_local_array(W1, b1, w2, X, y):
    h = np.zeros(W1.shape[0])
    loss = 0.0
    for i in range(X.shape[0]):
        for j in range(W1.shape[0]):
            a = b1[j]
            for k in range(X.shape[1]):
                a += W1[j, k] * X[i, k]
            h[j] = math.tanh(a)
        pred = 0.0
        for j in range(W1.shape[0]):
            pred += w2[j] * h[j]
        loss += (pred - y[i]) ** 2
    return loss / X.shape[0]


@sg.value_and_grad(wrt=("W1", "w2"))
def mlp_nested_sums(W1, w2, X, y):
    loss = 0.0
    for i in range(X.shape[0]):
        pred = 0.0
        for j in range(W1.shape[0]):
            a = 0.0
            for k in range(X.shape[1]):
                a += W1[j, k] * X[i, k]
            pred += w2[j] * math.tanh(a)
        loss += (pred - y[i]) ** 2
    return loss


@sg.grad(wrt=("k",))
def oscillator(k, x0, n):
    x = x0
    v = 0.0
    for _ in range(n):
        v = v - k * x
        x = x + 0.1 * v
    return x


@sg.grad
def product_recurrence(x):
    p = 1.0
    for i in range(x.shape[0]):
        p = p * math.sin(x[i]) + x[i]
    return p


@sg.grad(wrt=("x", "y"))
def shared_chain(x, y):
    a1 = math.sin(x * y) + x
    a2 = a1 * math.cos(a1) + y
    a3 = a2 * math.cos(a2) + a1
    a4 = a3 * math.cos(a3) + a2
    a5 = a4 * math.cos(a4) + a3
    a6 = a5 * math.cos(a5) + a4
    a7 = a6 * math.cos(a6) + a5
    return a7 * a6
'''

PROGRAMS = ["mlp_local_array", "mlp_nested_sums", "oscillator", "product_recurrence", "shared_chain"]

TEXT_NAME = re.compile(r"(?<![\w.])[A-Za-z_]\w*(?!\w*\()")  # an identifier that is not called
TEXT_SUM_INDEX = re.compile(r", \((\w+), ")  # Sum(term, (index, first, last))
TEXT_KNOWN = {"for", "E", "pi", "oo", "nan", "True", "False", "otherwise"}

LATEX_SKIPPED_GROUPS = re.compile(r"\\(?:operatorname|text|textbf|begin|end)\{[^{}]*\}")


def _latex_names(line):
    """The symbol names in one line of LaTeX: `a_{3}`, `\\bar{h}_{at}`, `{W_{1}}_{j,k}` gives W_{1}, j and k."""
    line = LATEX_SKIPPED_GROUPS.sub(" ", line)
    names, position = [], 0
    while position < len(line):
        bar = re.match(r"\\bar\{((?:[^{}]|\{[^{}]*\})*)\}(?:\^\{\\Sigma\}|'|_\{at\})?", line[position:])
        command = re.match(r"\\(?:[A-Za-z]+|.)", line[position:])
        name = re.match(r"[A-Za-z]+(?:_\{(?:[^{}]|\{[^{}]*\})*\}|_[A-Za-z0-9])?", line[position:])
        if bar:
            names.append(bar.group(0))
        elif name and not (position and line[position - 1].isdigit()):
            names.append(name.group(0))
        match = bar or command or name
        position += len(match.group(0)) if match else 1
    return [n for n in names if n != "e"]  # Euler's number, as sp.latex writes exp


def _latex_sum_indices(line):
    return [name for index in re.findall(r"\\sum_\{(.+?)=", line) for name in _latex_names(index)]


def _undefined(lines, names_of, left_of, bound_in, given):
    """(line, name) for each name a line reads before any line defines it."""
    defined, missing = set(given), []
    for line in lines:
        defined |= set(bound_in(line)) | set(names_of(left_of(line)))
        missing += [(line, name) for name in names_of(line) if name not in defined]
    return missing


def _text_names(line):
    return [n for n in TEXT_NAME.findall(line) if n not in TEXT_KNOWN]


def _text_left(line):
    return re.split(r" (?:=|<-|\+=) ", line.strip().removeprefix("for "), maxsplit=1)[0]


def _latex_left(line):
    return line.split("&", 1)[0] + " ".join(re.findall(r"\\textbf\{for \} (.+?) =", line))


@pytest.fixture(scope="module")
def programs(make_module):
    return make_module(SOURCE)


def _arguments(transform):
    import inspect

    return list(inspect.signature(transform.fun).parameters)


@pytest.mark.parametrize("name", PROGRAMS)
def test_text_defines_every_name_it_uses(programs, name):
    transform = getattr(programs, name)
    given = set()
    for argument in _arguments(transform):
        given |= {argument, f"{argument}_shape0", f"{argument}_shape1"}
    lines = str(transform).splitlines()
    missing = _undefined(lines, _text_names, _text_left, TEXT_SUM_INDEX.findall, given)
    assert not missing, "\n".join(f"{name!r} undefined in: {line}" for line, name in missing)


@pytest.mark.parametrize("name", PROGRAMS)
def test_latex_defines_every_name_it_uses(programs, name):
    import sympy as sp

    transform = getattr(programs, name)
    given = set()
    for argument in _arguments(transform):
        symbol = sp.latex(sp.Symbol(argument))
        given |= {symbol, f"N_{{{symbol}}}", f"M_{{{symbol}}}"}
    lines = transform.latex().splitlines()[1:-1]
    missing = _undefined(lines, _latex_names, _latex_left, _latex_sum_indices, given)
    assert not missing, "\n".join(f"{name!r} undefined in: {line}" for line, name in missing)


def test_the_parsers_find_an_undefined_name():
    """The checks above are only as good as their parsers: the old listing of the MLP read `a_2` and `pred_2`."""
    text = ["loss_2 = Sum((-y[i] + Sum(tanh(a_2)*w2[j], (j, 0, 3)))**2, (i, 0, X_shape0 - 1))",
            "for i = X_shape0 - 1 ... 0:", "    loss_1_part_bar = 2*pred_2 - 2*y[i]"]
    missing = _undefined(text, _text_names, _text_left, TEXT_SUM_INDEX.findall, {"y", "w2", "X_shape0"})
    assert [name for _, name in missing] == ["a_2", "pred_2"]
    latex = [r"\quad \bar{loss_{1 part}} &= 2 pred_{2} - {\bar{h}_{at}}_{j} \tanh{\left(a_{2} \right)}"]
    missing = _undefined(latex, _latex_names, _latex_left, lambda line: [], set())
    assert [name for _, name in missing] == ["pred_{2}", r"\bar{h}_{at}", "j", "a_{2}"]
