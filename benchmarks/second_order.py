"""Second order against JAX, CasADi and first-order optimisers: ratios printed in one run.

``python -m benchmarks.second_order`` (``--quick``: fewer rounds; ``--tables 1,3``: some of them) prints five
tables:

1. per call, Rosenbrock n = 1000: symgrad's dense and sparse Hessians against ``jax.jit(jax.hessian(f))`` and
   CasADi's sparse ``hessian`` evaluated through its ``casadi.Function`` (SX), timed side by side in the same
   rounds (`timing.call_times`), each ratio the median of per-round ratios;
2. derivation (the symbolic stages of the Hessian, no Numba compile; independent of n by construction since no
   size is known to it) and the pattern's preparation (abstract run plus colouring, once per shape), at n = 10,
   1000 and 100000;
3. per call, Hessian-vector products on Rosenbrock n = 10^5 and the logistic NLL 10^4 x 10 against symgrad's
   gradient of the same function, ``jax.jit`` of ``jvp(grad(f))`` and (the NLL) the HVP with pass `dead_carries`
   off, which still sums f and its slope with a `log1p` per row;
4. scipy.optimize: Newton-CG with ``hessp`` against L-BFGS-B with the gradient only on Rosenbrock n = 1000, and
   trust-ncg / trust-exact / trust-constr against L-BFGS-B and BFGS on a data-fitting problem (the logistic NLL),
   iterations and wall time to the same gradient tolerance;
5. CPU time per call of the NLL HVP and gradient with pass `dead_carries` on and off, and of the sparse Hessian.
"""

import argparse
import math
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # scipy's small BLAS calls: threads only slow them down

import numpy as np

import symgrad as sg

from .array_problems import logistic_nll
from .timing import call_times, log, paired_rounds


def rosen(x):
    s = 0.0
    for i in range(x.shape[0] - 1):
        s += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return s


def jax_functions():
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)

    def rosen_jax(x):
        return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    def nll_jax(w, X, y):
        z = X @ w
        return jnp.mean(jnp.log1p(jnp.exp(-z)) + (1 - y) * z)

    def hvp_of(f):
        return jax.jit(lambda x, *rest: jax.jvp(lambda x: jax.grad(f)(x, *rest[:-1]), (x,), (rest[-1],))[1])

    return {"hessian": jax.jit(jax.hessian(rosen_jax)), "hvp rosen": hvp_of(rosen_jax), "hvp nll": hvp_of(nll_jax)}


def casadi_hessian(n):
    import casadi

    x = casadi.SX.sym("x", n)
    f = casadi.sum1(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    return casadi.Function("hessian", [x], [casadi.hessian(f, x)[0]])


def ratios(calls, pairs, repeat):
    """Per-call microseconds of each call and the paired ratio of each (numerator, denominator)."""
    samples = call_times(calls, repeat, batch_seconds=0.05, budget_seconds=2.0)
    per_call = {name: 1e6 * float(np.median([s for _, s in value])) for name, value in samples.items()}
    return per_call, {pair: paired_rounds(samples[pair[0]], samples[pair[1]]) for pair in pairs}


def print_table(title, per_call, pairs):
    print(f"\n{title}")
    for name, us in per_call.items():
        print(f"  {name:<44} {us:>12.1f} us")
    for (a, b), ratio in pairs.items():
        print(f"  {a + ' / ' + b:<66} {ratio:>8.3f}")


def hessians(jax_calls, repeat):
    n = 1000
    x = np.random.default_rng(0).uniform(-1.0, 1.0, n)
    dense, sparse = sg.hessian(rosen), sg.hessian(rosen, sparse=True)
    casadi_function = casadi_hessian(n)
    reference = np.asarray(jax_calls["hessian"](x))
    for name, matrix in (("dense", dense(x)), ("sparse", sparse(x).toarray()),
                         ("casadi", casadi_function(x).full())):
        assert np.allclose(matrix, reference, rtol=1e-10, atol=1e-8), f"{name} differs from JAX"
    calls = {"symgrad dense": (dense, (x,)), "symgrad sparse (CSR)": (sparse, (x,)),
             "jax.jit(jax.hessian) dense": (jax_calls["hessian"], (x,)),
             "casadi SX hessian Function (sparse DM)": (casadi_function, (x,))}
    pairs = [("symgrad dense", "jax.jit(jax.hessian) dense"), ("symgrad sparse (CSR)", "jax.jit(jax.hessian) dense"),
             ("symgrad sparse (CSR)", "casadi SX hessian Function (sparse DM)")]
    title = f"1. Hessian of Rosenbrock, n = {n}, per call (lower ratio: symgrad faster)"
    print_table(title, *ratios(calls, pairs, repeat))


def derivation():
    print("\n2. Derivation of the Hessian (symbolic stages, no compile) and the pattern's preparation per shape")
    print("  (median of 3, after one derivation and pattern that import SymPy and load the compiled colouring)")
    print(f"  {'n':>8} {'derivation s':>14} {'pattern + colouring s':>22} {'colours':>8}")
    sg.hessian(rosen, sparse=True)._plan([np.zeros(10)])
    for n in (10, 1000, 100_000):
        x = np.linspace(-1.0, 1.0, n)
        derived, prepared = [], []
        for _ in range(3):
            transform = sg.hessian(rosen, sparse=True)
            started = time.perf_counter()
            transform._derive()
            derived.append(time.perf_counter() - started)
            started = time.perf_counter()
            plan = transform._plan([x])
            prepared.append(time.perf_counter() - started)
        print(f"  {n:>8} {np.median(derived):>14.3f} {np.median(prepared):>22.3f} {plan.colours.max() + 1:>8}")


def products(jax_calls, repeat):
    rng = np.random.default_rng(1)
    x = rng.uniform(-1.0, 1.0, 100_000)
    v = rng.normal(size=x.shape)
    w, X = rng.normal(size=10), rng.normal(size=(10_000, 10))
    y = (rng.random(10_000) < 0.5).astype(float)
    u = rng.normal(size=10)
    hvp_rosen, hvp_nll = sg.hvp(rosen), sg.hvp(logistic_nll)
    assert np.allclose(hvp_rosen(x, v), jax_calls["hvp rosen"](x, v), rtol=1e-10, atol=1e-8)
    assert np.allclose(hvp_nll(w, X, y, u), jax_calls["hvp nll"](w, X, y, u), rtol=1e-10, atol=1e-12)
    calls = {"rosen hvp": (hvp_rosen, (x, v)), "rosen grad": (sg.grad(rosen), (x,)),
             "rosen jax jvp(grad)": (jax_calls["hvp rosen"], (x, v)),
             "nll hvp": (hvp_nll, (w, X, y, u)), "nll grad": (sg.grad(logistic_nll), (w, X, y)),
             "nll jax jvp(grad)": (jax_calls["hvp nll"], (w, X, y, u)),
             "nll hvp, pass dead_carries off": (sg.hvp(logistic_nll, optimize={"dead_carries": False}), (w, X, y, u))}
    pairs = [("rosen hvp", "rosen grad"), ("rosen hvp", "rosen jax jvp(grad)"),
             ("nll hvp", "nll grad"), ("nll hvp", "nll jax jvp(grad)"), ("nll hvp", "nll hvp, pass dead_carries off")]
    title = "3. Hessian-vector products: Rosenbrock n = 10^5, logistic NLL 10^4 x 10"
    print_table(title, *ratios(calls, pairs, repeat))


def cpu_times(repeat):
    """Table 5: symgrad's calls by CPU time (`time.process_time` over a batch, median of rounds), which a loaded
    machine's descheduling does not inflate; JAX is left out, as its calls return before their work is done."""
    rng = np.random.default_rng(1)
    w, X = rng.normal(size=10), rng.normal(size=(10_000, 10))
    y, u = (rng.random(10_000) < 0.5).astype(float), rng.normal(size=10)
    x = rng.uniform(-1.0, 1.0, 1000)
    off = {"dead_carries": False}
    calls = {"nll hvp": (sg.hvp(logistic_nll), (w, X, y, u), 20),
             "nll hvp, pass dead_carries off": (sg.hvp(logistic_nll, optimize=off), (w, X, y, u), 20),
             "nll grad": (sg.grad(logistic_nll), (w, X, y), 20),
             "nll grad, pass dead_carries off": (sg.grad(logistic_nll, optimize=off), (w, X, y), 20),
             "sparse Hessian, rosen n = 1000": (sg.hessian(rosen, sparse=True), (x,), 200)}
    samples = {name: [] for name in calls}
    for function, args, _ in calls.values():
        function(*args)
    for _ in range(repeat):
        for name, (function, args, number) in calls.items():
            started = time.process_time()
            for _ in range(number):
                function(*args)
            samples[name].append((time.process_time() - started) / number)
    print("\n5. CPU time per call (median of rounds)")
    for name, seconds in samples.items():
        print(f"  {name:<44} {1e6 * np.median(seconds):>12.1f} us")


def optimisers(rounds):
    from scipy.optimize import minimize

    def timed(**options):
        minimize(**dict(options, options={"maxiter": 2}))  # warm-up: kernels compiled, plans made
        best = None
        for _ in range(rounds):
            started = time.perf_counter()
            result = minimize(**options)
            seconds = time.perf_counter() - started
            best = (result, seconds) if best is None or seconds < best[1] else best
        return best

    def row(label, result, seconds, gradient):
        norm = float(np.max(np.abs(gradient(result.x))))
        print(f"  {label:<38} {result.nit:>6} {result.nfev:>7} {seconds * 1e3:>10.1f} ms {norm:>12.1e}")

    print("\n4. scipy.optimize to the same gradient tolerance (best of rounds)")
    print(f"  {'method':<38} {'iters':>6} {'f evals':>7} {'wall':>13} {'max|grad|':>12}")
    n = 1000
    x0 = np.ones(n)
    x0[::2] = -1.2
    value_and_grad, product, gradient = sg.value_and_grad(rosen), sg.hvp(rosen), sg.grad(rosen)
    print(f"  Rosenbrock n = {n} from [-1.2, 1, ...]")
    row("Newton-CG (hessp=sg.hvp)", *timed(fun=value_and_grad, x0=x0, jac=True, hessp=product, method="Newton-CG",
                                          options={"xtol": 1e-12, "maxiter": 10_000}), gradient)
    row("Newton-CG (hess=sparse)", *timed(fun=value_and_grad, x0=x0, jac=True, hess=sg.hessian(rosen, sparse=True),
                                         method="Newton-CG", options={"xtol": 1e-12, "maxiter": 10_000}), gradient)
    row("L-BFGS-B (gradient only)", *timed(fun=value_and_grad, x0=x0, jac=True, method="L-BFGS-B",
                                          options={"gtol": 1e-8, "ftol": 0.0, "maxiter": 100_000}), gradient)
    row("trust-ncg (hessp=sg.hvp)", *timed(fun=value_and_grad, x0=x0, jac=True, hessp=product, method="trust-ncg",
                                          options={"gtol": 1e-8}), gradient)
    row("trust-constr (hess=sparse)", *timed(fun=value_and_grad, x0=x0, jac=True,
                                            hess=sg.hessian(rosen, sparse=True), method="trust-constr",
                                            options={"gtol": 1e-8, "xtol": 1e-14, "maxiter": 10_000}), gradient)

    rng = np.random.default_rng(2)
    X = rng.normal(size=(10_000, 10))
    truth = rng.normal(size=10)
    y = (rng.random(10_000) < 1.0 / (1.0 + np.exp(-X @ truth))).astype(float)
    fit, fit_gradient = sg.value_and_grad(logistic_nll), sg.grad(logistic_nll)
    w0 = np.zeros(10)
    print("  logistic NLL 10^4 x 10 (data fitting) from 0, to max|grad| 1e-8")
    product, hessian = sg.hvp(logistic_nll), sg.hessian(logistic_nll)
    hessp = lambda w, p, X, y: product(w, X, y, p)  # noqa: E731 (scipy passes p before the data, symgrad's v is last)
    for method, extra in (("trust-ncg", {"hessp": hessp}), ("trust-exact", {"hess": hessian}),
                          ("trust-constr", {"hess": hessian}), ("Newton-CG", {"hessp": hessp}),
                          ("L-BFGS-B", {}), ("BFGS", {})):
        options = {"gtol": 1e-8}
        if method == "L-BFGS-B":
            options["ftol"] = 0.0
        if method == "Newton-CG":
            options = {"xtol": 1e-12}
        if method == "trust-constr":
            options["xtol"] = 1e-14
        label = f"{method} ({'hessp' if 'hessp' in extra else 'hess' if extra else 'gradient only'})"
        row(label, *timed(fun=fit, x0=w0, jac=True, args=(X, y), method=method, options=options, **extra),
            lambda w: fit_gradient(w, X, y))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--tables", default="1,2,3,4,5", help="which tables to print (default all: 1,2,3,4,5)")
    options = parser.parse_args(argv)
    tables = set(options.tables.split(","))
    repeat = 5 if options.quick else 15
    log("compiling (JAX traces, symgrad derives or loads its kernels)...")
    jax_calls = jax_functions()
    if "1" in tables:
        hessians(jax_calls, repeat)
    if "2" in tables:
        derivation()
    if "3" in tables:
        products(jax_calls, repeat)
    if "4" in tables:
        optimisers(1 if options.quick else 2)
    if "5" in tables:
        cpu_times(repeat)
    print(f"\nload: {open('/proc/loadavg').read().split()[:3]}, {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
