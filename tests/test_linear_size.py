"""Symbolic reverse mode without expression swell: a long chain derives quickly into a kernel of linear size.

The chain ``x = sin(x) * cos(0.5 * x + a) + 0.1 * x`` uses ``x`` three times per step, so its fully nested closed
form grows like 3**steps; symgrad differentiates one small right-hand side at a time and must stay linear.
"""

import math
import time

import pytest
import sympy as sp
from conftest import central_difference, write_module

import symgrad as sg

STEPS = 200
STEP = "    x = math.sin(x) * math.cos(0.5 * x + a) + 0.1 * x\n"


def chain_source(steps):
    return "import math\n\n\ndef chain(x, a):\n" + STEP * steps + "    return x\n"


def chain_transform(steps):
    module = write_module(chain_source(steps))
    return module.chain, sg.grad(module.chain, wrt=("x", "a"))


def forward_mode(x, a, steps):
    """Value and (d/dx, d/da) of the chain by forward-mode differentiation, written out by hand."""
    dx, da = (1.0, 0.0), (0.0, 1.0)  # tangents of x and of a w.r.t. (x0, a)
    for _ in range(steps):
        s, c = math.sin(x), math.cos(0.5 * x + a)
        ds_dx, dc_du = math.cos(x), -math.sin(0.5 * x + a)
        new_tangent = tuple(ds_dx * t * c + s * dc_du * (0.5 * t + ta) + 0.1 * t for t, ta in zip(dx, da))
        x = s * c + 0.1 * x
        dx = new_tangent
    return x, dx


@pytest.fixture(scope="module")
def long_chain():
    function, transform = chain_transform(STEPS)
    start = time.perf_counter()
    derivation = transform._derived()
    seconds = time.perf_counter() - start
    return function, transform, derivation, seconds


def test_long_chain_derives_quickly(long_chain):
    _, _, _, seconds = long_chain
    assert seconds < 30.0, f"deriving a {STEPS}-step chain took {seconds:.1f} s"


@pytest.mark.parametrize("point", [(0.3, 0.2), (1.1, -0.7), (-0.9, 1.4)])
def test_long_chain_gradient_is_right(long_chain, point):
    function, transform, _, _ = long_chain
    got = transform(*point)
    value, reference = forward_mode(*point, STEPS)
    assert value == pytest.approx(function(*point), rel=1e-12, abs=1e-14)
    scale = max(1.0, abs(value))
    for position, (d, expected) in enumerate(zip(got, reference)):
        assert d == pytest.approx(expected, rel=1e-9, abs=1e-13), f"d/d{'xa'[position]} vs forward mode"
        fd = central_difference(function, point, position)
        assert abs(d - fd) <= 1e-6 * max(abs(fd), scale), f"d/d{'xa'[position]}: {d} vs FD {fd}"


def test_grad_kernel_is_at_most_four_times_the_value_kernel(long_chain):
    _, _, derivation, _ = long_chain
    value_ops = derivation.kernels["value"].operation_count()
    grad_ops = derivation.kernels["grad"].operation_count()
    assert value_ops >= 5 * STEPS  # the forward really holds the whole chain
    assert grad_ops <= 4 * value_ops, f"grad kernel {grad_ops} ops vs value kernel {value_ops} ops"


def test_kernel_size_grows_linearly_with_the_chain(long_chain):
    _, _, derivation, _ = long_chain
    _, half = chain_transform(STEPS // 2)
    ops_half = half._derived().kernels["grad"].operation_count()
    ops_full = derivation.kernels["grad"].operation_count()
    assert ops_half * 1.8 <= ops_full <= ops_half * 2.2  # linear: twice the steps, twice the operations


def naive_derivative_ops(steps):
    """count_ops of sympy.diff of the fully nested chain expression."""
    x, a = sp.symbols("x a", real=True)
    expr = x
    for _ in range(steps):
        expr = sp.sin(expr) * sp.cos(0.5 * expr + a) + 0.1 * expr
    return sp.count_ops(sp.diff(expr, x))


def test_naive_sympy_diff_swells_where_symgrad_does_not():
    """Plain sympy.diff of the nested expression grows geometrically (a 12-step chain already takes minutes to
    differentiate and count, so 4..6 steps show the trend); symgrad's gradient kernel grows by a constant."""
    naive = {n: naive_derivative_ops(n) for n in (4, 5, 6)}
    ours = {}
    for n in (4, 5, 6):
        _, transform = chain_transform(n)
        ours[n] = transform._derived().kernels["grad"].operation_count()
    assert naive[6] > 10 * ours[6], (naive, ours)
    assert naive[6] / naive[5] > 2.5 and naive[5] / naive[4] > 2.5, naive  # geometric growth
    assert abs((ours[6] - ours[5]) - (ours[5] - ours[4])) <= 2, ours  # a fixed number of operations per step
