"""The scaling figure: does symgrad's derivation swell, and does its per-call time keep up as data grows?

* Rosenbrock written out term by term in n scalar arguments, and the chain ``x = sin(x)*cos(0.5*x + a) + 0.1*x``
  written out n times: the time `Transform._derived()` takes (parse, reverse mode, codegen; no Numba) and the
  operation count of its value_and_grad kernel (`Kernel.operation_count`, the count tests/test_linear_size.py
  holds linear), beside SymPy's ``diff`` + ``lambdify(cse=True)`` on the same function (its time, and the
  operation count of what cse leaves), capped; SymPy's series stops at its first time-out.
* Logistic NLL on 10**2 .. 10**6 rows: per-call time of symgrad, hand Numba and JAX (`run.measure_problem`).
"""

import os
import time

import bench_problems
import numpy as np
import problems
import systems
from systems import TimedOut, time_limit
from timing import log

SIZES = {
    "quick": {"unrolled": (10, 30, 100), "rows": (10**2, 10**3, 10**4, 10**5)},
    "full": {"unrolled": (10, 30, 100, 300, 1000), "rows": (10**2, 10**3, 10**4, 10**5, 10**6)},
}
ROWS_SYSTEMS = ("symgrad", "numba", "jax")


def symgrad_derivation(function, wrt):
    """Seconds to derive, and the operation count of the value_and_grad kernel."""
    import symgrad as sg

    transform = sg.value_and_grad(function, wrt=wrt)
    start = time.perf_counter()
    derivation = transform._derived()
    return {"derive_s": time.perf_counter() - start,
            "operations": derivation.kernels["value_and_grad"].operation_count()}


def sympy_derivation(problem, args, cap):
    """Seconds for SymPy's diff + lambdify(cse=True), and the operation count after cse; or the time-out."""
    start = time.perf_counter()
    try:
        with time_limit(cap):
            runner = systems.SYSTEMS["sympy"].build(problem, args)
    except TimedOut as error:
        return {"status": "timed out", "reason": str(error)}
    return {"derive_s": time.perf_counter() - start, "operations": runner.operations}


def families(directory):
    """name -> (n -> (symgrad's function, its wrt, the SymPy problem, its arguments))."""
    def rosen(n):
        source = bench_problems.rosen_unrolled_source(n)
        module = bench_problems.write_module(directory, f"bench_rosen_unrolled{n}", source)
        problem = problems.PROBLEMS["rosen10"].resized(n)
        return module.rosen, tuple(range(n)), problem, problem.args(np.random.default_rng(n))

    def chain(n):
        module = bench_problems.write_module(directory, f"bench_chain{n}", bench_problems.chain_source(n))
        problem = problems.chain_problem(n, module.chain)
        return module.chain, problem.wrt, problem, problem.args(None)

    return {"rosen (unrolled)": rosen, "chain": chain}


def derivations(sizes, cap, with_sympy):
    out = {}
    for family, make in families(os.environ["BENCH_GENERATED"]).items():
        series = out[family] = {"n": list(sizes), "symgrad": [], "sympy": []}
        sympy_stopped = not with_sympy
        for n in sizes:
            function, wrt, problem, args = make(n)
            log(f"  scaling: {family}, n = {n}")
            series["symgrad"].append(symgrad_derivation(function, wrt))
            if sympy_stopped:
                series["sympy"].append({"status": "not run"})
                continue
            series["sympy"].append(sympy_derivation(problem, args, cap))
            sympy_stopped = "status" in series["sympy"][-1]
    return out


def run(quick, config, present, measure):
    """Both halves of the figure; `measure` is `run.measure_problem`."""
    sizes = SIZES["quick" if quick else "full"]
    out = {"derivation": derivations(sizes["unrolled"], config["cap_s"], "sympy" in present)}
    chosen = [s for s in ROWS_SYSTEMS if s in present]
    rows = out["rows"] = {"n": list(sizes["rows"]), "systems": {s: [] for s in chosen}}
    rng = np.random.default_rng(7)
    settings = dict(config, check_points=1)
    for n in sizes["rows"]:
        log(f"  scaling: logistic NLL, {n} rows")
        entries = measure(problems.PROBLEMS["logistic"].resized(n), chosen, settings, rng)
        for system in chosen:
            rows["systems"][system].append(entries[system].get("call_s"))
    return out
