"""micrograd's two-moons demo with symgrad: a 2-16-16-1 ReLU MLP trained by plain SGD.

Run it with ``python examples/moons_mlp.py``; ``--small`` trains on 20 points for 5 steps (a smoke test).
``--png PATH`` says where to draw the decision boundary (default examples/moons_boundary.png; needs
matplotlib, and is skipped without it; ``--png ""`` turns it off).

This is Andrej Karpathy's micrograd demo (https://github.com/karpathy/micrograd, demo.ipynb) with the network
and its loss written as ordinary Python loops over NumPy arrays instead of a graph of scalar `Value` objects:

* the data: 100 points of scikit-learn's two moons with noise 0.1 (made here with NumPy), labels -1 / +1;
* the model: 2 -> 16 -> 16 -> 1, ReLU on the hidden layers (kept in local arrays h1, h2, written element by
  element), weights initialised uniform(-1, 1) and biases 0 as in micrograd: W1 (16x2), b1 (16), W2 (16x16),
  b2 (16), w3 (16), b3 (a scalar), 337 parameters;
* the loss: the mean SVM max-margin loss max(0, 1 - y * score) plus 1e-4 times the sum of squares of all 337
  parameters (micrograd's `alpha * sum(p * p for p in model.parameters())`);
* the optimiser: 100 steps of plain SGD with micrograd's schedule lr = 1.0 - 0.9 * k / 100.

``sg.value_and_grad(wrt=(...))`` compiles the loss and its gradient with respect to all six parameter
arguments into one Numba kernel; ``mlp_loss_vectorised`` is the same loss written with matrices
(``np.maximum(X @ W1.T + b1, 0.0)``), checked against the loop version.  The example trains twice: once with
the SGD loop in Python, and once in the user's own ``@numba.njit`` loop that calls the kernel directly
(``mlp_loss.kernels.value_and_grad``).
"""

import argparse
import math
import pathlib
import time

import numba
import numpy as np

import symgrad as sg

STARTED = time.perf_counter()  # the kernels are derived (or loaded) and compiled from here on
PARAMETER_NAMES = ("W1", "b1", "W2", "b2", "w3", "b3")
ALPHA = 1e-4  # weight of the L2 penalty, as in micrograd's demo
# micrograd's demo seeds its generators with 1337; so does the init below (not tuned: with this data, seeds
# 0 to 9 reach 100% training accuracy as well)
INIT_SEED = 1337


@sg.value_and_grad(wrt=PARAMETER_NAMES)
def mlp_loss(W1, b1, W2, b2, w3, b3, X, y):
    n = X.shape[0]
    hidden = W1.shape[0]
    h1 = np.zeros(hidden)
    h2 = np.zeros(hidden)
    data_loss = 0.0
    for i in range(n):
        for j in range(hidden):  # first hidden layer: ReLU(W1 x + b1)
            acc = b1[j]
            for k in range(X.shape[1]):
                acc += W1[j, k] * X[i, k]
            h1[j] = max(acc, 0.0)
        for j in range(hidden):  # second hidden layer: ReLU(W2 h1 + b2)
            acc = b2[j]
            for k in range(hidden):
                acc += W2[j, k] * h1[k]
            h2[j] = max(acc, 0.0)
        score = b3  # linear output
        for j in range(hidden):
            score += w3[j] * h2[j]
        data_loss += max(0.0, 1.0 - y[i] * score)  # SVM max-margin loss
    squares = b3 ** 2  # L2 penalty on all parameters
    for j in range(hidden):
        squares += b1[j] ** 2 + b2[j] ** 2 + w3[j] ** 2
        for k in range(X.shape[1]):
            squares += W1[j, k] ** 2
        for k in range(hidden):
            squares += W2[j, k] ** 2
    return data_loss / n + ALPHA * squares


@sg.value_and_grad(wrt=PARAMETER_NAMES)
def mlp_loss_vectorised(W1, b1, W2, b2, w3, b3, X, y):
    """The same loss written with matrices, as NumPy users write it; symgrad lowers it to loops like those above."""
    h1 = np.maximum(X @ W1.T + b1, 0.0)
    h2 = np.maximum(h1 @ W2.T + b2, 0.0)
    margins = np.maximum(1.0 - y * (h2 @ w3 + b3), 0.0)
    squares = np.sum(W1 ** 2) + np.sum(b1 ** 2) + np.sum(W2 ** 2) + np.sum(b2 ** 2) + np.sum(w3 ** 2) + b3 ** 2
    return np.mean(margins) + ALPHA * squares


def relative_difference(first, second):
    """max |a - b| / max |a| over the value and every gradient entry of two (value, gradients) results."""
    a = np.concatenate([[first[0]]] + [np.ravel(g) for g in first[1]])
    b = np.concatenate([[second[0]]] + [np.ravel(g) for g in second[1]])
    return float(np.max(np.abs(a - b)) / np.max(np.abs(a)))


# `loss_and_gradient`, bound under __main__ (importing this file derives nothing), is the dispatcher
# `mlp_loss.kernels.value_and_grad`: a module-level name, so Numba compiles it into the njit code below.
@numba.njit
def train_in_numba(W1, b1, W2, b2, w3, b3, X, y, steps):
    """The same SGD as `train_in_python`, compiled: updates the arrays in place, returns b3 and the losses."""
    losses = np.empty(steps)
    for k in range(steps):
        loss, (gW1, gb1, gW2, gb2, gw3, gb3) = loss_and_gradient(W1, b1, W2, b2, w3, b3, X, y)
        learning_rate = 1.0 - 0.9 * k / steps
        W1 -= learning_rate * gW1
        b1 -= learning_rate * gb1
        W2 -= learning_rate * gW2
        b2 -= learning_rate * gb2
        w3 -= learning_rate * gw3
        b3 -= learning_rate * gb3
        losses[k] = loss
    return b3, losses


def make_moons(n_samples, noise, rng):
    """Two interleaving half circles, as scikit-learn's make_moons; labels -1 (upper moon) and +1 (lower)."""
    n_upper = n_samples // 2
    n_lower = n_samples - n_upper
    upper = np.linspace(0.0, math.pi, n_upper)
    lower = np.linspace(0.0, math.pi, n_lower)
    X = np.concatenate([np.stack([np.cos(upper), np.sin(upper)], axis=1),
                        np.stack([1.0 - np.cos(lower), 0.5 - np.sin(lower)], axis=1)])
    X += noise * rng.standard_normal(X.shape)
    y = np.concatenate([-np.ones(n_upper), np.ones(n_lower)])
    return X, y


def initial_parameters(seed, hidden=16):
    """micrograd's initialisation: weights uniform(-1, 1), biases 0."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1.0, 1.0, (hidden, 2)), np.zeros(hidden), rng.uniform(-1.0, 1.0, (hidden, hidden)),
            np.zeros(hidden), rng.uniform(-1.0, 1.0, hidden), 0.0]


def scores(parameters, X):
    """The network's output for each row of X, in plain NumPy (for accuracy and the decision boundary)."""
    W1, b1, W2, b2, w3, b3 = parameters
    h1 = np.maximum(X @ W1.T + b1, 0.0)
    h2 = np.maximum(h1 @ W2.T + b2, 0.0)
    return h2 @ w3 + b3


def accuracy(parameters, X, y):
    return float(np.mean((scores(parameters, X) > 0) == (y > 0)))


def train_in_python(parameters, X, y, steps, report_every=None):
    """Plain SGD, the loop in Python: returns the final parameters and the seconds spent in the steps."""
    step_seconds = 0.0
    for k in range(steps):
        start = time.perf_counter()
        loss, gradients = mlp_loss(*parameters, X, y)
        learning_rate = 1.0 - 0.9 * k / steps
        parameters = [p - learning_rate * g for p, g in zip(parameters, gradients)]
        step_seconds += time.perf_counter() - start
        if report_every and (k % report_every == 0 or k == steps - 1):
            print(f"step {k:>3}  loss {loss:.6f}  accuracy {accuracy(parameters, X, y):6.1%}  lr {learning_rate:.3f}")
    return parameters, step_seconds


def gradient_check(parameters, X, y, h=1e-6):
    """Max relative error of symgrad's gradient against central finite differences, over all parameters."""
    _, exact = mlp_loss(*parameters, X, y)
    exact_flat, numeric_flat = [], []
    for index, gradient in enumerate(exact):
        if np.ndim(gradient) == 0:  # b3, a float
            up, down = list(parameters), list(parameters)
            up[index], down[index] = parameters[index] + h, parameters[index] - h
            exact_flat.append(gradient)
            numeric_flat.append((mlp_loss.value(*up, X, y) - mlp_loss.value(*down, X, y)) / (2 * h))
            continue
        for position in np.ndindex(gradient.shape):
            up, down = list(parameters), list(parameters)
            up[index], down[index] = parameters[index].copy(), parameters[index].copy()
            up[index][position] += h
            down[index][position] -= h
            exact_flat.append(gradient[position])
            numeric_flat.append((mlp_loss.value(*up, X, y) - mlp_loss.value(*down, X, y)) / (2 * h))
    exact_flat, numeric_flat = np.array(exact_flat), np.array(numeric_flat)
    return len(exact_flat), float(np.max(np.abs(exact_flat - numeric_flat)) / np.max(np.abs(exact_flat)))


def draw_boundary(parameters, X, y, path):
    """The decision boundary over the plane, as in micrograd's demo; skipped if matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no picture (pip install matplotlib)")
        return
    h = 0.02  # micrograd's demo uses a 0.25 grid; a finer one draws a smoother boundary
    x_min, x_max = X[:, 0].min() - 1, X[:, 0].max() + 1
    y_min, y_max = X[:, 1].min() - 1, X[:, 1].max() + 1
    xx, yy = np.meshgrid(np.arange(x_min, x_max, h), np.arange(y_min, y_max, h))
    Z = (scores(parameters, np.c_[xx.ravel(), yy.ravel()]) > 0).reshape(xx.shape)
    figure, axes = plt.subplots(figsize=(6, 5))
    axes.contourf(xx, yy, Z, cmap=plt.cm.Spectral, alpha=0.8)
    axes.scatter(X[:, 0], X[:, 1], c=y, s=40, cmap=plt.cm.Spectral, edgecolors="k")
    axes.set_xlim(xx.min(), xx.max())
    axes.set_ylim(yy.min(), yy.max())
    axes.set_title(f"2-16-16-1 MLP, SGD with symgrad gradients: accuracy {accuracy(parameters, X, y):.0%}")
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)
    print(f"decision boundary written to {path}")


def section(title):
    print(f"\n=== {title} " + "=" * max(0, 72 - len(title)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="20 points and 5 steps, for a smoke test")
    parser.add_argument("--png", default=None,
                        help="where to write the decision boundary (default examples/moons_boundary.png; with "
                             "--small, none unless given; '' for none)")
    arguments = parser.parse_args()
    n_samples, steps, report_every = (20, 5, 1) if arguments.small else (100, 100, 10)
    png = arguments.png
    if png is None and not arguments.small:
        png = str(pathlib.Path(__file__).resolve().parent / "moons_boundary.png")

    X, y = make_moons(n_samples, noise=0.1, rng=np.random.default_rng(0))
    parameters = initial_parameters(INIT_SEED)
    count = sum(np.size(p) for p in parameters)
    print(f"two moons: {n_samples} points, noise 0.1; MLP 2-16-16-1 with {count} parameters")

    section("1. The gradient (w.r.t. W1, b1, W2, b2, w3, b3) is exact")
    mlp_loss(*parameters, X, y)
    mlp_loss.value(*parameters, X, y)  # the first calls: the value kernel is compiled here
    print(f"kernels derived (or loaded from the cache) and compiled in {time.perf_counter() - STARTED:.2f} s "
          "(value_and_grad at import, where it is bound for the njit loop)")
    checked, error = gradient_check(parameters, X, y)
    print(f"max relative error vs central finite differences over all {checked} parameters: {error:.1e}")
    print("(run `print(mlp_loss)` to see the derived formulas: a forward pass, and a reversed loop per layer)")
    difference = relative_difference(mlp_loss(*parameters, X, y), mlp_loss_vectorised(*parameters, X, y))
    print(f"vectorised version vs the loop version: max relative difference of value and gradient: {difference:.1e}")

    section(f"2. SGD, {steps} steps, loop in Python")
    trained, python_seconds = train_in_python(parameters, X, y, steps, report_every)
    for _ in range(2):  # time it twice more without printing, and keep the best (the machine may be busy)
        python_seconds = min(python_seconds, train_in_python(parameters, X, y, steps)[1])
    final_accuracy = accuracy(trained, X, y)
    print(f"final training accuracy {final_accuracy:.0%}; "
          f"{python_seconds / steps * 1e6:.0f} us per step (value, gradient of 337 parameters, update; best of 3)")

    section("3. The same SGD in a @numba.njit loop calling mlp_loss.kernels.value_and_grad")
    start = time.perf_counter()
    train_in_numba(*initial_parameters(INIT_SEED), X, y, 1)  # compile (the arrays are fresh copies)
    print(f"compiling train_in_numba: {time.perf_counter() - start:.2f} s")
    numba_seconds = math.inf
    for _ in range(3):  # best of 3, as above
        W1, b1, W2, b2, w3, b3 = initial_parameters(INIT_SEED)  # the same initial values as the Python loop's
        start = time.perf_counter()
        b3, losses = train_in_numba(W1, b1, W2, b2, w3, b3, X, y, steps)
        numba_seconds = min(numba_seconds, time.perf_counter() - start)
    in_numba = [W1, b1, W2, b2, w3, b3]
    difference = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in zip(in_numba, trained))
    print(f"final loss {losses[-1]:.6f}, accuracy {accuracy(in_numba, X, y):.0%}; max |difference| from the "
          f"Python loop's parameters: {difference:.1e}")
    print(f"{numba_seconds / steps * 1e6:.0f} us per step in Numba vs {python_seconds / steps * 1e6:.0f} us per step "
          f"with the loop in Python ({python_seconds / numba_seconds:.1f}x)")

    if png:
        section("4. The decision boundary")
        draw_boundary(trained, X, y, png)
    if not arguments.small and final_accuracy < 1.0:
        raise SystemExit(f"expected 100% training accuracy, got {final_accuracy:.0%}")


if __name__ == "__main__":
    loss_and_gradient = mlp_loss.kernels.value_and_grad
    main()
