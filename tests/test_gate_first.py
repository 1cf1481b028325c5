"""Passes `sweep_additions` and `gate_first` (`codegen.guarded_sweeps`): the bias adjoint's addition next to a sweep
skipped while its adjoint is zero runs under the sweep's test, and inside a row past a hinge's test, a sweep whose
adjoint is a ReLU's derivative times the adjoint flowing in branches on the ReLU's output first (known long before
the adjoint is).  `gate_first` only chooses between two identical arms, so its kernels give the same numbers as
without it, bit for bit, for any arguments: checked against the kernels with the passes off (with finite data and
with an infinite label, whose adjoint reaches inactive units as NaN) and against central differences (Richardson);
the rewriting itself is checked on the statements."""

import pathlib
import sys

import numpy as np
import pytest
import sympy as sp
from conftest import richardson_gradient

import symgrad as sg
from symgrad import codegen
from symgrad.ir import Allocate, Assign, Loop, ReverseLoop, Store, Update, When

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from benchmarks.array_problems import mlp_loss, mlp_loss_vectorised  # noqa: E402 - after the path to benchmarks

NETWORKS = [mlp_loss, mlp_loss_vectorised]  # (the field benchmark's: rows past a hinge's test, and layer-major)


def _arguments(rng, hidden=6, n=30, d=2):
    """W1, b1, W2, b2, w3, b3, X, y of the field's MLP, small."""
    return (rng.normal(size=(hidden, d)), rng.normal(size=hidden), rng.normal(size=(hidden, hidden)),
            rng.normal(size=hidden), rng.normal(size=hidden), 0.1, rng.normal(size=(n, d)),
            np.sign(rng.normal(size=n)))


WRT = (0, 1, 2, 3, 4, 5)
OFF = {"gate_first": False, "sweep_additions": False}


def _lines(transform):
    """The gradient kernel's lines, after one call (the kinds of a vectorised function's arrays come from it)."""
    return transform.source().split("def grad(")[1].split("\n")


def _gated(lines):
    """The lines that open a gate: ``if (z > 0):`` followed by a test of an adjoint."""
    return [line for line, after in zip(lines, lines[1:])
            if line.strip().startswith("if (") and "> 0)" in line and after.strip().endswith("!= 0.0):")]


def _bias_inside(lines):
    """Whether an addition into the first layer's bias adjoint (`b1_bar[...] += ...`) comes right after the loop of
    the skipped sweep, at its level: inside the sweep's test.  Without the pass it comes before that test, or after
    its block."""
    for k, line in enumerate(lines):
        if line.lstrip().startswith("b1_bar[") and "+=" in line:
            depth = len(line) - len(line.lstrip())
            previous = next(lines[m] for m in range(k - 1, -1, -1)
                            if lines[m].strip() and len(lines[m]) - len(lines[m].lstrip()) <= depth)
            return previous.lstrip().startswith("for ")
    return False


@pytest.mark.parametrize("function", NETWORKS)
def test_guarded_sweeps_against_richardson_and_the_kernels_without_them(function):
    args = _arguments(np.random.default_rng(5))
    value, gradient = sg.value_and_grad(function, wrt=WRT)(*args)
    plain_value, plain_gradient = sg.value_and_grad(function, wrt=WRT, optimize=OFF)(*args)
    assert value == plain_value
    for mine, plain, position in zip(gradient, plain_gradient, WRT):
        np.testing.assert_array_equal(mine, plain)
        reference = richardson_gradient(function, args, position, step=1e-5)
        np.testing.assert_allclose(mine, reference, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("function", NETWORKS)
def test_a_gate_opens_only_inside_a_row_past_the_hinge_and_the_bias_joins_the_sweep(function):
    args = _arguments(np.random.default_rng(3))
    on, off = sg.grad(function, wrt=WRT), sg.grad(function, wrt=WRT, optimize=OFF)
    on(*args), off(*args)
    assert bool(_gated(_lines(on))) == (function is mlp_loss) and not _gated(_lines(off))
    assert _bias_inside(_lines(on)) and not _bias_inside(_lines(off))


def test_the_gated_kernel_adds_the_nan_an_infinite_adjoint_brings_to_an_inactive_unit():
    """With y[i] infinite on a row with a negative score, the hinge's adjoint is infinite there; at an inactive
    unit its derivative 0 times it is NaN, which the kernel without the passes adds into W2's and b2's adjoints:
    the gated one must too (the `elif` arm)."""
    args = list(_arguments(np.random.default_rng(2)))
    W1, b1, W2, b2, w3, b3, X, y = args
    h2 = np.maximum(np.maximum(X @ W1.T + b1, 0.0) @ W2.T + b2, 0.0)
    row = next(i for i in range(len(y)) if h2[i] @ w3 + b3 < 0 and (h2[i] == 0).any())
    args[7] = y.copy()
    args[7][row] = np.inf
    on, off = sg.grad(mlp_loss, wrt=WRT)(*args), sg.grad(mlp_loss, wrt=WRT, optimize=OFF)(*args)
    assert np.isnan(off[3]).any()  # (the case is real: b2's adjoint of an inactive unit is NaN)
    for mine, plain in zip(on, off):
        np.testing.assert_array_equal(mine, plain)


# --- the rewriting, on statements --------------------------------------------------------------------------------
n, i, j = sp.symbols("n i j", integer=True)
ZERO, ONE = sp.Integer(0), sp.Integer(1)
s, t, z = sp.symbols("s t z", real=True)
a, b, X = sp.IndexedBase("a"), sp.IndexedBase("b"), sp.IndexedBase("X")


def _body(derivative, before=(), after=()):
    """`s = t * derivative`, `before`, a sweep adding s*X[i, j] into a[j] skipped while s is zero, `after`."""
    sweep = ReverseLoop(Loop(j, ZERO, n, ONE, [], []), [Store(a, (j,), s * X[i, j], True)], s)
    return [Assign(s, t * derivative)] + list(before) + [sweep] + list(after)


def test_a_relu_gate_opens_the_sweep_and_takes_in_the_bias_additions_on_both_sides():
    before, after = [Store(b, (i,), 2 * s, True)], [Store(b, (i + 1,), s, True), Store(b, (i,), t, True)]
    rewritten = codegen.guarded_sweeps(_body(sp.Heaviside(z, 0), before, after), guarded=True)
    gated = rewritten[1]
    assert isinstance(gated, When) and gated.gate == sp.Gt(z, 0) and gated.condition == sp.Ne(s, sp.Float(0.0))
    assert gated.body[0].unless_zero is None and gated.body[1:] == before + after[:1]  # (b[i] += t: not of s)
    assert rewritten[2:] == after[1:]


def test_outside_a_row_guard_only_the_additions_move():
    rewritten = codegen.guarded_sweeps(_body(sp.Heaviside(z, 0), after=[Store(b, (i,), s, True)]))
    assert len(rewritten) == 2 and rewritten[1].gate is None and len(rewritten[1].body) == 2


def test_an_addition_the_sweep_reads_stays_before_it():
    before = [Store(a, (i,), s, True)]  # (the sweep adds into a too: the order of the two stays)
    rewritten = codegen.guarded_sweeps(_body(sp.Heaviside(z, 0), before))
    assert rewritten[1] == before[0] and isinstance(rewritten[2], ReverseLoop)


def test_a_piecewise_derivative_zero_but_under_its_first_condition_is_a_gate():
    derivative = sp.Piecewise((sp.Float(1.0), z > 0), (sp.Integer(0), sp.Eq(z, 0)), (sp.Float(0.0), True))
    assert codegen.guarded_sweeps(_body(derivative), guarded=True)[1].gate == sp.Gt(z, 0)


@pytest.mark.parametrize("derivative", [sp.Piecewise((sp.Float(1.0), z > 0), (sp.Float(0.5), True)),
                                        sp.Heaviside(X[i, 0], 0), sp.exp(z)])
def test_no_gate_where_the_derivative_is_not_zero_elsewhere_or_its_test_reads_an_array(derivative):
    rewritten = codegen.guarded_sweeps(_body(derivative), guarded=True)
    assert isinstance(rewritten[1], ReverseLoop) and rewritten[1].unless_zero == s


def test_an_addition_into_a_scalar_sum_stays_outside_the_test():
    total = sp.Symbol("total", real=True)
    rewritten = codegen.guarded_sweeps(_body(sp.Heaviside(z, 0), after=[Update(total, s, True)]))
    assert isinstance(rewritten[1], ReverseLoop) and rewritten[2] == Update(total, s, True)


def test_a_row_array_stored_by_a_sweep_under_its_test_is_written_once_and_keeps_its_zeros():
    """`write_once_rows` reads the `When` of `sweep_additions` as a sweep that may be skipped: its stores become
    `=`, and the array stays zeros (a skipped row is not written)."""
    c = sp.IndexedBase("c")
    sweep = ReverseLoop(Loop(j, ZERO, n, ONE, [], []), [Store(c, (i, j), s * X[i, j], True)], None)
    row = Loop(i, ZERO, n, ONE, [Assign(s, X[i, 0]), When(sp.Ne(s, sp.Float(0.0)), [sweep, Store(b, (i,), s, True)])],
               [])
    rewritten = codegen.write_once_rows([Allocate(c, (n, n)), row])
    assert rewritten[0] == Allocate(c, (n, n))
    assert rewritten[1].body[1].body[0].body == [Store(c, (i, j), s * X[i, j], False)]
