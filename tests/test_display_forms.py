"""The forms a person reads: `.pretty()` (SymPy's pretty printer), `.to_markdown()` and `_repr_latex_`."""

import symgrad as sg

SOURCE = '''
import math
import symgrad as sg


@sg.grad(wrt=("x", "y"))
def rosen(x, y):
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


@sg.grad(wrt=("w", "b"))
def relu_loss(w, b, x):
    z = w * x + b
    return max(z, 0.0) if z > -1 else math.tanh(z)


@sg.value_and_grad
def rosen_n(x):
    s = 0.0
    for i in range(len(x) - 1):
        s += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2
    return s


@sg.grad(wrt=("k",))
def decay(k, x0, n):
    x = x0
    for _ in range(n):
        x = x - k * x
    return x
'''


def test_pretty_draws_fractions_and_formulas(make_module):
    module = make_module(SOURCE)
    text = module.rosen.pretty()
    lines = text.splitlines()
    assert any(line.startswith("rosen(x, y) = ") for line in lines)
    # the partial's label is a 2-D fraction: numerator, bar and denominator on three lines
    numerator = next(k for k, line in enumerate(lines) if line.startswith("∂rosen"))
    assert lines[numerator + 1].startswith("──────") and lines[numerator + 2].strip().startswith("∂x")
    assert "⋅" in text  # SymPy's pretty multiplication sign, not the one-line `*`
    ascii_text = module.rosen.pretty(use_unicode=False)
    assert ascii_text.isascii() and "drosen" in ascii_text and "------" in ascii_text


def test_pretty_draws_cases_and_max(make_module):
    text = make_module(SOURCE).relu_loss.pretty()
    assert "⎧" in text and "otherwise" in text  # a Piecewise as a brace of cases
    assert "max(b + w⋅x, 0" in text  # symgrad's tie-aware Maximum printed as max


def test_pretty_draws_loops_with_bars_and_sizes(make_module):
    text = make_module(SOURCE).rosen_n.pretty()
    assert "for i = Nₓ - 2, …, 0:" in text  # the reversed loop, with the array size as N_x
    assert "x̅[i + 1] += " in text  # adjoints overlined
    assert "╲" in text  # the forward reduction drawn as a 2-D sum
    ascii_text = make_module(SOURCE).rosen_n.pretty(use_unicode=False)
    assert ascii_text.isascii() and "x_bar[i + 1] += " in ascii_text


def test_pretty_draws_forward_mode_tangents(make_module):
    text = make_module(SOURCE).decay.pretty()
    assert "∂x/∂k" in text and "for _ = 0, …, n - 1:" in text


def test_to_markdown_has_the_source_and_the_latex(make_module):
    rosen = make_module(SOURCE).rosen
    markdown = rosen.to_markdown()
    assert markdown.startswith('```python\n@sg.grad(wrt=("x", "y"))\ndef rosen(x, y):\n')
    assert f"$$\n{rosen.latex()}\n$$\n" in markdown
    assert rosen.to_markdown(source=False) == f"$$\n{rosen.latex()}\n$$\n"
    assert rosen._repr_latex_() == f"$${rosen.latex()}$$"


def test_display_forms_exist_on_every_transform():
    for name in ("pretty", "to_markdown", "latex", "_repr_latex_", "source"):
        assert callable(getattr(sg.Transform, name))
