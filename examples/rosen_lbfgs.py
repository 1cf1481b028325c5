"""Minimise the n-dimensional Rosenbrock function with L-BFGS-B and symgrad's exact gradient.

Run it with ``python examples/rosen_lbfgs.py`` (it needs scipy); ``--small`` uses tiny sizes for a smoke test.

``rosen`` below is a plain Python loop over ``len(x) - 1`` terms.  ``@sg.value_and_grad`` turns it into one
compiled Numba kernel that returns the value and the whole gradient (an ndarray shaped like ``x``) in a single
pass, which is exactly what ``scipy.optimize.minimize(..., jac=True)`` asks for.  The example

1. prints the formulas symgrad derived (a sum, and a reversed loop accumulating into x_bar),
2. checks the gradient once against central finite differences and against scipy's hand-written ``rosen_der``,
   and ``rosen_vectorised`` (the same function written with slices) against the loop version,
3. minimises Rosenbrock with L-BFGS-B from x0 = [-1.2, 1, -1.2, 1, ...] in n = 2, 50 and 1000 dimensions,
   with symgrad's gradient and with scipy's finite differences, and compares evaluations and time.  At
   n = 1000 every finite-difference gradient costs 1001 function evaluations, so that run gets a budget of
   250 gradients' worth of evaluations, and the table shows how far it got.
"""

import argparse
import os
import time

# L-BFGS-B's own work is many small BLAS calls; OpenBLAS threads only slow those down (by 10-30x on a busy
# machine), so ask for one thread unless the user chose otherwise.  Must come before NumPy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from scipy.optimize import minimize, rosen_der

import symgrad as sg


@sg.value_and_grad
def rosen(x):
    total = 0.0
    for i in range(len(x) - 1):
        total += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return total


@sg.value_and_grad
def rosen_vectorised(x):
    """The same function as NumPy users write it; symgrad lowers the slices to the loop above."""
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def starting_point(n):
    """x0 = [-1.2, 1, -1.2, 1, ...], the classic start."""
    x0 = np.ones(n)
    x0[::2] = -1.2
    return x0


def central_differences(f, x, step=1e-6):
    """Gradient of f at the 1-D array x by central differences, one coordinate at a time."""
    g = np.empty_like(x)
    for i in range(len(x)):
        h = step * max(1.0, abs(x[i]))
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        g[i] = (f(xp) - f(xm)) / (2 * h)
    return g


def max_relative_error(exact, approx):
    """max |exact - approx| / max |exact| (norm-wise, so that components near 0 do not divide by ~0)."""
    return float(np.max(np.abs(exact - approx)) / np.max(np.abs(exact)))


class Timed:
    """Wrap a function and add up the seconds spent inside it."""

    def __init__(self, function):
        self.function, self.seconds = function, 0.0

    def __call__(self, x):
        start = time.perf_counter()
        result = self.function(x)
        self.seconds += time.perf_counter() - start
        return result


def run_lbfgs(n, exact, max_evaluations=1_000_000):
    """L-BFGS-B from the classic start, with symgrad's gradient (exact=True) or scipy's finite differences.

    Returns the result, the wall time, and the part of it spent inside symgrad's kernels."""
    x0 = starting_point(n)
    options = {"maxiter": 100_000, "maxfun": max_evaluations}
    # exact: rosen(x) -> (value, gradient), one compiled pass.  jac=None: scipy builds each gradient from
    # n + 1 calls of the compiled value kernel (forward differences).
    objective = Timed(rosen if exact else rosen.value)
    start = time.perf_counter()
    result = minimize(objective, x0, method="L-BFGS-B", jac=True if exact else None, options=options)
    return result, time.perf_counter() - start, objective.seconds


def section(title):
    print(f"\n=== {title} " + "=" * max(0, 72 - len(title)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny sizes, for a smoke test")
    arguments = parser.parse_args()
    n_big, n_fd = (20, 10) if arguments.small else (1000, 50)
    fd_budget = 250 * (n_big + 1)  # evaluations for finite differences at n_big: 250 gradients' worth

    section("1. What symgrad derived from the Python loop")
    print(rosen)  # str(): the value as a Sum and the gradient as a reversed loop
    print("\nas LaTeX (rosen.latex()):")
    print(rosen.latex())

    section("2. The gradient is exact")
    start = time.perf_counter()
    rosen(starting_point(4))  # first call: load or derive the kernels, and compile them
    rosen.value(starting_point(4))
    print(f"first call (derive or load from cache, then compile): {time.perf_counter() - start:.2f} s")
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.5, 1.5, size=min(n_big, 100))
    value, gradient = rosen(x)
    numeric = central_differences(rosen.value, x)
    print(f"n = {len(x)}, random x: value {value:.6f}")
    print(f"max relative error vs central finite differences: {max_relative_error(gradient, numeric):.1e} "
          "(the finite differences' own error)")
    print(f"max |symgrad - scipy.optimize.rosen_der|:          {np.max(np.abs(gradient - rosen_der(x))):.1e}")
    vectorised_value, vectorised_gradient = rosen_vectorised(x)
    print("vectorised version vs the loop version: max relative difference of value and gradient: "
          f"{max(abs(vectorised_value - value) / abs(value), max_relative_error(gradient, vectorised_gradient)):.1e}")

    section("3. L-BFGS-B from x0 = [-1.2, 1, -1.2, 1, ...]")
    run_lbfgs(n_fd, exact=False)  # warm-up (scipy's own first-call costs) before timing
    print(f"{'gradient':<30}{'n':>6}{'iters':>7}{'f evals':>9}{'final f':>12}{'max|x-1|':>12}"
          f"{'wall time':>13}{'in kernels':>13}")
    runs = {}
    for n in (2, n_fd, n_big):
        for exact in (True, False):
            label = "symgrad (jac=True)" if exact else "finite differences (jac=None)"
            budget = fd_budget if n == n_big and not exact else 1_000_000
            result, seconds, kernel_seconds = runs[n, exact] = run_lbfgs(n, exact, budget)
            print(f"{label:<30}{n:>6}{result.nit:>7}{result.nfev:>9}{result.fun:>12.2e}"
                  f"{np.max(np.abs(result.x - 1.0)):>12.2e}{seconds * 1e3:>10.1f} ms{kernel_seconds * 1e3:>10.1f} ms")

    for n in (2, n_fd):
        (exact, exact_time, _), (approx, approx_time, _) = runs[n, True], runs[n, False]
        print(f"at n = {n}: symgrad's gradient makes L-BFGS-B {approx_time / exact_time:.1f}x faster than finite "
              f"differences ({exact.nfev} calls of value_and_grad, vs {approx.nfev} calls of the value for "
              f"{approx.nit} iterations); final f {exact.fun:.1e} vs {approx.fun:.1e}.")
    exact_big, exact_big_time, kernel_big_time = runs[n_big, True]
    approx_big, approx_big_time, _ = runs[n_big, False]
    print(f"at n = {n_big}: {kernel_big_time * 1e3:.1f} ms of the {exact_big_time * 1e3:.1f} ms are spent in symgrad's "
          f"kernel ({kernel_big_time / exact_big.nfev * 1e6:.1f} us per value and gradient); the rest is L-BFGS-B's "
          "own bookkeeping.")
    outcome = "converged" if approx_big.success else f"stopped ({approx_big.message})"
    print(f"finite differences at n = {n_big}: {outcome} after {approx_big.nit} iterations and {approx_big.nfev} "
          f"evaluations in {approx_big_time * 1e3:.0f} ms, at f = {approx_big.fun:.3g}; symgrad reached f = "
          f"{exact_big.fun:.1e} in {exact_big.nfev} evaluations and {exact_big_time * 1e3:.0f} ms.")

if __name__ == "__main__":
    main()
