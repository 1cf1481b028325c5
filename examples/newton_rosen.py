"""Newton's method on the n-dimensional Rosenbrock function with symgrad's exact Hessian.

Run it with ``python examples/newton_rosen.py`` (it needs scipy); ``--small`` uses tiny sizes for a smoke test.

``rosen`` is a plain Python loop.  ``sg.value_grad_and_hessian(rosen)`` derives its Hessian-vector product and
finds, from the program, that the Hessian is tridiagonal: three products, whatever n, give every entry.  The
example

1. prints the Hessian as symgrad shows it (the matrix for n = 5, the entries of a row for larger n),
2. checks the Hessian against central differences of the gradient and against a Hessian written by hand,
3. runs a damped Newton loop written in Numba (``@njit``) that calls the compiled
   ``.kernels.value_grad_and_hessian`` (value, gradient and Hessian in one call) and solves the tridiagonal
   system in O(n), and
4. minimises the same function with scipy.optimize: Newton-CG with ``hessp=sg.hvp(rosen)`` and with the sparse
   Hessian, against L-BFGS-B with the gradient only, and prints iterations and time.
"""

import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # scipy's small BLAS calls: threads only slow them down

import numba
import numpy as np
from scipy.optimize import minimize

import symgrad as sg


def rosen(x):
    total = 0.0
    for i in range(len(x) - 1):
        total += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return total


def hand_hessian(x):
    """The Hessian of Rosenbrock derived by hand (as scipy.optimize.rosen_hess writes it)."""
    n = len(x)
    h = np.zeros((n, n))
    diagonal = np.zeros(n)
    diagonal[:-1] += 1200.0 * x[:-1] ** 2 - 400.0 * x[1:] + 2.0
    diagonal[1:] += 200.0
    h[np.arange(n), np.arange(n)] = diagonal
    h[np.arange(n - 1), np.arange(1, n)] = h[np.arange(1, n), np.arange(n - 1)] = -400.0 * x[:-1]
    return h


def starting_point(n):
    x0 = np.ones(n)
    x0[::2] = -1.2
    return x0


@numba.njit
def tridiagonal_solve(h, shift, rhs):
    """(h + shift I) d = rhs for a tridiagonal h (Thomas' algorithm: O(n), where np.linalg.solve is O(n^3))."""
    n = len(rhs)
    upper, right = np.empty(n), np.empty(n)
    pivot = h[0, 0] + shift
    upper[0], right[0] = (h[0, 1] / pivot if n > 1 else 0.0), rhs[0] / pivot
    for i in range(1, n):
        pivot = h[i, i] + shift - h[i, i - 1] * upper[i - 1]
        upper[i] = h[i, i + 1] / pivot if i < n - 1 else 0.0
        right[i] = (rhs[i] - h[i, i - 1] * right[i - 1]) / pivot
    d = np.empty(n)
    d[n - 1] = right[n - 1]
    for i in range(n - 2, -1, -1):
        d[i] = right[i] - upper[i] * d[i + 1]
    return d


def newton_in_numba(kernel):
    """A damped Newton loop compiled by Numba around symgrad's kernel: backtracking on the value, and a shift
    of the Hessian's diagonal when the Newton direction is not a descent direction."""

    @numba.njit
    def newton(x, plan, tolerance, max_steps):
        value, gradient, hessian = kernel(x, plan)
        for step in range(max_steps):
            if np.max(np.abs(gradient)) < tolerance:
                return x, value, step
            shift = 0.0
            while True:
                direction = -tridiagonal_solve(hessian, shift, gradient)
                if direction @ gradient < 0.0:
                    break
                shift = max(2.0 * shift, 1e-3)
            t = 1.0
            while True:
                candidate = x + t * direction
                trial, trial_gradient, trial_hessian = kernel(candidate, plan)
                if trial <= value + 1e-4 * t * (direction @ gradient) or t < 1e-12:
                    break
                t *= 0.5
            x, value, gradient, hessian = candidate, trial, trial_gradient, trial_hessian
        return x, value, max_steps

    return newton


def section(title):
    print(f"\n=== {title} " + "=" * max(0, 72 - len(title)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny sizes, for a smoke test")
    n = 30 if parser.parse_args().small else 1000
    transform = sg.value_grad_and_hessian(rosen)

    section("1. The Hessian symgrad derived")
    shown = sg.hessian(rosen)
    shown(np.ones(5))
    print(shown.latex().split("&\\text{computed as")[0])
    shown(np.ones(n))
    print(shown.latex().split("&\\text{computed as")[0])

    section("2. The Hessian is exact")
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.5, 1.5, size=min(n, 40))
    value, gradient, hessian = transform(x)
    step = 1e-6
    columns = [(sg.grad(rosen)(x + step * e) - sg.grad(rosen)(x - step * e)) / (2 * step) for e in np.eye(len(x))]
    differences = np.array(columns).T
    print(f"n = {len(x)}: {transform.plan(x)[1].size - 1} Hessian-vector products per Hessian")
    print(f"max relative error vs central differences of the gradient: "
          f"{np.max(np.abs(hessian - differences)) / np.max(np.abs(hessian)):.1e}")
    print(f"max relative error vs the Hessian derived by hand: "
          f"{np.max(np.abs(hessian - hand_hessian(x))) / np.max(np.abs(hessian)):.1e}")

    section(f"3. Newton's method in Numba, n = {n}, from [-1.2, 1, -1.2, ...]")
    x0 = starting_point(n)
    newton = newton_in_numba(transform.kernels.value_grad_and_hessian)
    plan = transform.plan(x0)
    newton(x0, plan, 1e-8, 2)  # compile
    started = time.perf_counter()
    solution, final, steps = newton(x0, plan, 1e-8, 10_000)
    seconds = time.perf_counter() - started
    print(f"Newton steps: {steps}, f = {final:.2e}, max|x - 1| = {np.max(np.abs(solution - 1.0)):.1e}, "
          f"{seconds * 1e3:.1f} ms")

    section("4. scipy.optimize to max|gradient| < 1e-8")
    value_and_grad, product, sparse = sg.value_and_grad(rosen), sg.hvp(rosen), sg.hessian(rosen, sparse=True)
    runs = [("Newton-CG, hessp=sg.hvp", dict(method="Newton-CG", hessp=product, options={"xtol": 1e-12})),
            ("Newton-CG, hess=sparse", dict(method="Newton-CG", hess=sparse, options={"xtol": 1e-12})),
            ("L-BFGS-B, gradient only", dict(method="L-BFGS-B", options={"gtol": 1e-8, "ftol": 0.0,
                                                                         "maxiter": 100_000}))]
    print(f"{'method':<28}{'iterations':>11}{'f evals':>9}{'wall':>12}{'max|grad|':>12}")
    for label, options in runs:
        minimize(value_and_grad, x0, jac=True, **dict(options, options={"maxiter": 2}))  # compile, make plans
        started = time.perf_counter()
        result = minimize(value_and_grad, x0, jac=True, **options)
        seconds = time.perf_counter() - started
        print(f"{label:<28}{result.nit:>11}{result.nfev:>9}{seconds * 1e3:>9.1f} ms"
              f"{np.max(np.abs(sg.grad(rosen)(result.x))):>12.1e}")


if __name__ == "__main__":
    main()
