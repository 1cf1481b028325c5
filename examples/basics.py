"""Three classic first exercises in differentiation, each checked against a gradient derived by hand.

Run it with ``python examples/basics.py``.  It

1. differentiates ``loss = (f(x) - x)**2`` with ``f(x) = x*w + b`` at x = 2, w = 3, b = 4 with respect to all
   of (x, w, b).  x reaches the loss along two paths, through f and directly, and the true d/dx adds both:
   2 (f - x) (w - 1) = 32, not the 48 of the path through f alone;
2. scores a tanh neuron, p = (1 + tanh(w . x + b)) / 2, by binary cross entropy against a label (the neuron and
   the numbers of micrograd's README: x = (2, 0), w = (-3, 1), b = 6.8813735870195432);
3. takes the mean squared error of a linear model y = X w + b over a data set, written as loops.

Each part prints what symgrad derived, its gradient, the gradient derived by hand, and central finite differences.
"""

import inspect
import math

import numpy as np

import symgrad as sg
from symgrad.cli import estimate_derivative  # the extrapolated differences `symgrad check` uses


# --- 1. loss = (f(x) - x)**2 with f(x) = x*w + b ------------------------------------------------------------------
def f(x, w, b):
    return x * w + b


@sg.value_and_grad(wrt=("x", "w", "b"))
def loss(x, w, b):
    return (f(x, w, b) - x) ** 2  # f is an ordinary Python helper: symgrad inlines it


def loss_by_hand(x, w, b):
    """(loss, (d/dx, d/dw, d/db)) by the chain rule on paper, with r = f(x) - x = x w + b - x."""
    r = x * w + b - x
    return r**2, (2 * r * (w - 1), 2 * r * x, 2 * r)


# --- 2. a tanh neuron with binary cross entropy --------------------------------------------------------------------
@sg.value_and_grad(wrt=("w", "b"))
def neuron_bce(w, b, x, label):
    z = b
    for j in range(len(x)):
        z += w[j] * x[j]
    p = 0.5 * (1.0 + math.tanh(z))  # the neuron's output tanh(z), mapped from (-1, 1) to a probability
    return -(label * math.log(p) + (1.0 - label) * math.log(1.0 - p))


def neuron_bce_by_hand(w, b, x, label):
    """p = (1 + tanh z) / 2 = sigmoid(2 z), so d(cross entropy)/dz = 2 (p - label)."""
    p = 0.5 * (1.0 + math.tanh(b + w @ x))
    return -(label * math.log(p) + (1 - label) * math.log(1 - p)), (2 * (p - label) * x + 0.0, 2 * (p - label))


# --- 3. mean squared error of a linear model ---------------------------------------------------------------------
@sg.value_and_grad(wrt=("w", "b"))
def mse(w, b, X, y):
    total = 0.0
    for i in range(X.shape[0]):
        prediction = b
        for j in range(X.shape[1]):
            prediction += X[i, j] * w[j]
        total += (prediction - y[i]) ** 2
    return total / X.shape[0]


def mse_by_hand(w, b, X, y):
    """With residuals r = X w + b - y: d/dw = 2 X^T r / n, d/db = 2 sum(r) / n."""
    r = X @ w + b - y
    return r @ r / len(y), (2 * X.T @ r / len(y), 2 * r.sum() / len(y))


# --- checking ------------------------------------------------------------------------------------------------------
def flat(gradient):
    return np.concatenate([np.ravel(g) for g in gradient])


def report(transform, by_hand, args):
    """Print symgrad's value and gradient beside the hand-derived ones and finite differences of the Python code."""
    value, gradient = transform(*args)
    hand_value, hand_gradient = by_hand(*args)
    names = list(inspect.signature(transform.fun).parameters)
    numeric = [estimate_derivative(transform.fun, list(args), names.index(name))[0] for name in transform.wrt]
    for label, v, g in (("symgrad", value, gradient), ("by hand", hand_value, hand_gradient),
                        ("finite differences", None, numeric)):
        shown = ", ".join(f"d/d{n} = {np.array2string(np.asarray(x), precision=6)}" for n, x in zip(transform.wrt, g))
        print(f"{label:<20}{'' if v is None else f'value {v:.6f}   '}{shown}")
    exact = flat(gradient)
    scale = np.max(np.abs(exact))
    print(f"max relative error vs the gradient derived by hand: "
          f"{np.max(np.abs(exact - flat(hand_gradient))) / scale:.1e}")
    print(f"max relative error vs central finite differences: {np.max(np.abs(exact - flat(numeric))) / scale:.1e}")
    return value, gradient


def section(title):
    print(f"\n=== {title} " + "=" * max(0, 72 - len(title)))


def main():
    section("1. loss = (f(x) - x)**2, f(x) = x*w + b, at x = 2, w = 3, b = 4")
    print(loss.pretty())
    value, (dx, dw, db) = report(loss, loss_by_hand, (2.0, 3.0, 4.0))
    print(f"loss = {value:g}; d/dx = {dx:g} = 2 (f - x) (w - 1): the path through f gives 2 (f - x) w = 48, "
          "the direct path -2 (f - x) = -16")

    section("2. a tanh neuron, scored by binary cross entropy")
    print(neuron_bce)
    x, w, b = np.array([2.0, 0.0]), np.array([-3.0, 1.0]), 6.8813735870195432
    print(f"x = {x}, w = {w}, b = {b}: tanh(w . x + b) = {math.tanh(w @ x + b):.4f} (micrograd's 0.7071)")
    for label in (1.0, 0.0):
        print(f"-- label {label:g}")
        report(neuron_bce, neuron_bce_by_hand, (w, b, x, label))

    section("3. mean squared error of a linear model over 50 samples")
    print(mse)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 3))
    y = X @ np.array([1.5, -2.0, 0.5]) + 0.3 + 0.1 * rng.standard_normal(50)
    report(mse, mse_by_hand, (np.array([0.1, 0.2, -0.3]), 0.0, X, y))


if __name__ == "__main__":
    main()
