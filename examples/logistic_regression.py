"""Logistic regression by maximum likelihood: the loss written as plain loops, fitted with L-BFGS-B.

Run it with ``python examples/logistic_regression.py`` (it needs scipy); ``--small`` uses a tiny data set.

The negative log-likelihood of labels y in {0, 1} under P(y = 1 | x) = sigmoid(x . w) is, per sample,
log(1 + exp(-z)) + (1 - y) z with z = x . w.  Below it is written the way one would write it on paper: a loop
over the samples, and an inner loop for the dot product.  ``@sg.value_and_grad(wrt="w")`` derives the gradient
with respect to the weights only (X and y are data) and compiles both into one Numba kernel, which is handed
to ``scipy.optimize.minimize(..., jac=True)``.  ``negative_log_likelihood_vectorised`` is the same loss written
with ``X @ w`` and ``np.sum``, as NumPy users write it; the example checks that both give the same gradient.
"""

import argparse
import math
import os
import time

# L-BFGS-B's own work is many small BLAS calls; OpenBLAS threads only slow those down (by 10-30x on a busy
# machine), so ask for one thread unless the user chose otherwise.  Must come before NumPy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from scipy.optimize import minimize

import symgrad as sg


@sg.value_and_grad(wrt="w")
def negative_log_likelihood(w, X, y):
    total = 0.0
    for i in range(X.shape[0]):
        z = 0.0
        for j in range(X.shape[1]):
            z += X[i, j] * w[j]
        total += math.log1p(math.exp(-z)) + (1 - y[i]) * z
    return total


@sg.value_and_grad(wrt="w")
def negative_log_likelihood_vectorised(w, X, y):
    """The same loss as NumPy users write it; symgrad lowers `X @ w` and the sum to the loops above."""
    z = X @ w
    return np.sum(np.log1p(np.exp(-z)) + (1 - y) * z)


def make_data(n_samples, true_w, seed=0):
    """X: a column of ones (the intercept) and standard normal features; y ~ Bernoulli(sigmoid(X @ true_w))."""
    rng = np.random.default_rng(seed)
    X = np.ones((n_samples, len(true_w)))
    X[:, 1:] = rng.standard_normal((n_samples, len(true_w) - 1))
    probability = 1.0 / (1.0 + np.exp(-X @ true_w))
    y = (rng.uniform(size=n_samples) < probability).astype(float)
    return X, y


def central_differences(f, w, step=1e-6):
    g = np.empty_like(w)
    for j in range(len(w)):
        h = step * max(1.0, abs(w[j]))
        wp, wm = w.copy(), w.copy()
        wp[j] += h
        wm[j] -= h
        g[j] = (f(wp) - f(wm)) / (2 * h)
    return g


def max_relative_error(exact, approx):
    """max |exact - approx| / max |exact| (norm-wise, so that components near 0 do not divide by ~0)."""
    return float(np.max(np.abs(exact - approx)) / np.max(np.abs(exact)))


def accuracy(w, X, y):
    return float(np.mean((X @ w > 0) == (y == 1)))


def section(title):
    print(f"\n=== {title} " + "=" * max(0, 72 - len(title)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny data set, for a smoke test")
    arguments = parser.parse_args()
    n_samples = 200 if arguments.small else 2000
    true_w = np.array([-0.5, 2.0, -1.0, 0.5, 0.0])  # intercept, then four feature weights
    X, y = make_data(n_samples, true_w)
    print(f"data: X {X.shape[0]} x {X.shape[1]} (column 0 is the intercept), {int(y.sum())} positive labels")

    section("1. What symgrad derived (gradient w.r.t. w only)")
    print(negative_log_likelihood)
    print("\nas LaTeX (negative_log_likelihood.latex()):")
    print(negative_log_likelihood.latex())

    section("2. The gradient is exact")
    start = time.perf_counter()
    w = np.array([0.3, -0.2, 0.1, 0.4, -0.3])
    value, gradient = negative_log_likelihood(w, X, y)  # first call: load or derive, and compile
    print(f"first call (derive or load from cache, then compile): {time.perf_counter() - start:.2f} s")
    numeric = central_differences(lambda v: negative_log_likelihood.value(v, X, y), w)
    p = 1.0 / (1.0 + np.exp(-X @ w))
    by_hand = X.T @ (p - y)  # the textbook gradient, vectorised with NumPy
    print(f"at w = {w}: value {value:.6f}")
    print(f"gradient       {np.array2string(gradient, precision=6)}")
    print(f"max relative error vs central finite differences: {max_relative_error(gradient, numeric):.1e}")
    print(f"max relative error vs the textbook X.T @ (sigmoid(X w) - y): {max_relative_error(gradient, by_hand):.1e}")
    vectorised_value, vectorised_gradient = negative_log_likelihood_vectorised(w, X, y)
    print("vectorised version vs the loop version: max relative difference of value and gradient: "
          f"{max(abs(vectorised_value - value) / abs(value), max_relative_error(gradient, vectorised_gradient)):.1e}")

    section("3. Fit with L-BFGS-B from w = 0")

    def objective(w):
        return negative_log_likelihood(w, X, y)  # (value, gradient), as jac=True asks

    start = time.perf_counter()
    result = minimize(objective, np.zeros(len(true_w)), method="L-BFGS-B", jac=True)
    seconds = time.perf_counter() - start
    print(f"{result.message}: {result.nit} iterations, {result.nfev} evaluations, {seconds * 1e3:.1f} ms, "
          f"final negative log-likelihood {result.fun:.4f}")
    print(f"{'weight':<12}{'true':>8}{'fitted':>10}")
    for j, (true, fitted) in enumerate(zip(true_w, result.x)):
        print(f"{'intercept' if j == 0 else f'w[{j}]':<12}{true:>8.3f}{fitted:>10.3f}")
    print(f"training accuracy: fitted weights {accuracy(result.x, X, y):.1%}, "
          f"true weights {accuracy(true_w, X, y):.1%} (the labels are noisy, so neither reaches 100%)")
    calls = 200 if arguments.small else 1000
    start = time.perf_counter()
    for _ in range(calls):
        negative_log_likelihood(result.x, X, y)
    print(f"one value_and_grad over {n_samples} samples: "
          f"{(time.perf_counter() - start) / calls * 1e6:.1f} us")


if __name__ == "__main__":
    main()
