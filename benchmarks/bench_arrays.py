"""Array benchmark of symgrad against hand-written Numba gradients and JAX.

    python benchmarks/bench_arrays.py            # full run (about a minute on 2 cores)
    python benchmarks/bench_arrays.py --quick    # fewer repeats
    python benchmarks/bench_arrays.py --json results.json

Problems (plain Python in `array_problems`, differentiated with ``symgrad.value_and_grad``):

* rosen: n-D Rosenbrock over a 1-D array, n = 10, 1000, 100000;
* logistic: mean logistic negative log-likelihood, X of 10000 x 10, gradient w.r.t. w;
* mlp: micrograd's two-moons MLP loss (2-16-16-1, ReLU, hinge loss + L2), 100 points, gradient w.r.t. all 337
  parameters (6 arguments);
* oscillator: 1000 explicit Euler steps of x'' = -k x - c x' against observations, gradient w.r.t. (k, c).

Each is compared with

* a hand-written gradient compiled with ``numba.njit`` (value and gradient in one fused function, returning
  ``(value, gradient)`` shaped like symgrad's result);
* ``jax.jit(jax.value_and_grad(f, argnums=...))``, float64 on the CPU, written with vectorised ``jnp`` code
  (``lax.scan`` for the oscillator), called on arrays already on the device.

Figures: per-call time from Python (medians of interleaved batches; ratios are medians of per-round ratios),
symgrad / hand (target <= 1.5x), JAX / symgrad (target > 1x: symgrad faster), the max relative error of
symgrad's value and gradient against the hand-written ones (target <= 1e-9), and the derivation time of each
problem, measured in a fresh process with an empty cache for two data sizes, with a check that calling with
another array length reuses the same derivation (same kernel module, no new derivation, one compiled signature).
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import array_problems
import hand
import numpy as np
import problems
import systems
from array_problems import make_args
from bench_core import _load_average, log, machine_info
from timing import median, paired_ratio, python_call_times

import symgrad as sg

# Problems also timed with symgrad's parallel=True (a loss over rows: its loop only adds into sums)
THREADED = {"logistic"}
RATIO_TARGET = 1.5  # symgrad / hand-written njit, per call from Python
JAX_TARGET = 1.0  # JAX / symgrad must exceed this
TOLERANCE = 1e-9  # max relative error of symgrad vs hand-written


# ---------------------------------------------------------------------------------------------------------------
# JAX twins, vectorised as a JAX user would write them (imported lazily)
# ---------------------------------------------------------------------------------------------------------------
def jax_twins():
    """``jax.jit(jax.value_and_grad(twin))`` per problem family, as the comparison harness builds it (vectorised
    ``jnp`` code, ``lax.scan`` for the oscillator), and the conversion of host arguments to device arrays."""
    jax = systems.SYSTEMS["jax"]
    version = jax.version()
    families = {p.family: p for p in problems.PROBLEMS.values() if not p.scalar}
    runners = {name: jax.build(p, p.args(np.random.default_rng(0))) for name, p in families.items()}
    return {name: r.call for name, r in runners.items()}, runners["rosen"].convert, version


# name -> (function, wrt, hand-written, sizes timed, two sizes for the derivation figure, size label)
PROBLEMS = {
    "rosen": (array_problems.rosen, 0, hand.njit(hand.rosen_hand), (10, 1000, 100000), (10, 100000), "n={}"),
    "logistic": (array_problems.logistic_nll, 0, hand.njit(hand.logistic_hand), (10000,), (100, 10000), "X {}x10"),
    "mlp": (array_problems.mlp_loss, (0, 1, 2, 3, 4, 5), hand.njit(hand.mlp_hand), (100,), (20, 100), "{} pts, 337 p"),
    "oscillator": (array_problems.oscillator, (0, 1), hand.njit(hand.oscillator_hand), (1000,), (100, 1000),
                   "{} steps"),
}


# ---------------------------------------------------------------------------------------------------------------
# Correctness
# ---------------------------------------------------------------------------------------------------------------
def flatten(result):
    """(value, gradient or tuple of gradients) -> one float64 vector."""
    value, gradient = result
    parts = gradient if isinstance(gradient, tuple) else (gradient,)
    return np.concatenate([[float(value)]] + [np.ravel(np.asarray(g, dtype=float)) for g in parts])


def sparse_copy(args, every=7):
    """`args` with every `every`-th element (in memory order) of each array set to exactly 0.0: sparse features,
    pruned weights, zero observations.  Every 2-D array here gets a 0 in its last column this way."""
    out = []
    for a in args:
        if isinstance(a, np.ndarray):
            a = a.copy()
            a.reshape(-1)[::every] = 0.0
        out.append(a)
    return tuple(out)


def relative_error(a, b, floor=1e-6):
    """max over components of |a - b| / max(|a|, |b|, floor * largest |b|), over the value and every gradient.

    The floor keeps components that cancel to rounding noise from counting as 100% wrong: with balanced labels
    the MLP's d/d b3 is a sum of +-1/n that is 0 up to ~1e-17, and its sign is rounding."""
    a, b = flatten(a), flatten(b)
    if a.shape != b.shape:
        return math.inf
    scale = np.maximum(np.maximum(np.abs(a), np.abs(b)), floor * np.max(np.abs(b)))
    with np.errstate(invalid="ignore", divide="ignore"):
        errors = np.where(scale > 0, np.abs(a - b) / scale, np.where(a == b, 0.0, math.inf))
    return float(np.max(errors))


# ---------------------------------------------------------------------------------------------------------------
# Derivation time: a fresh process per (problem, size) with an empty cache directory
# ---------------------------------------------------------------------------------------------------------------
def derive_child(problem, first_size, other_size):
    """Run in a fresh process (SYMGRAD_CACHE_DIR empty): time `_derived()` of a fresh transform, call it at
    `first_size`, then at `other_size`, and report (JSON on stdout) whether the second call derived again."""
    import sympy  # noqa: F401  one-time imports, paid before the clock starts

    import symgrad.api
    import symgrad.codegen
    import symgrad.display
    import symgrad.frontend
    import symgrad.reverse

    derivations = []
    original = symgrad.api._derive

    def counting(*a, **k):
        derivations.append(1)
        return original(*a, **k)

    symgrad.api._derive = counting
    function, wrt = PROBLEMS[problem][:2]
    rng = np.random.default_rng(7)
    first_args, other_args = make_args(problem, first_size, rng), make_args(problem, other_size, rng)
    vg = sg.value_and_grad(function, wrt=wrt)
    start = time.perf_counter()
    vg._derived()
    derive_s = time.perf_counter() - start
    start = time.perf_counter()
    vg(*first_args)  # cache miss: store the derived module, compile it with Numba, run
    first_call_s = time.perf_counter() - start
    first_file = vg._load().__file__
    derived_before = len(derivations)
    start = time.perf_counter()
    vg(*other_args)
    other_call_s = time.perf_counter() - start
    dispatcher = vg.kernels.value_and_grad
    print(json.dumps({
        "derive_s": derive_s, "first_call_s": first_call_s, "other_call_s": other_call_s,
        "module": os.path.basename(first_file), "same_module": vg._load().__file__ == first_file,
        "derivations_on_other_size": len(derivations) - derived_before,
        "signatures": len(dispatcher.signatures), "overloads": len(dispatcher.overloads),
        "cache_files": sorted(os.listdir(os.environ["SYMGRAD_CACHE_DIR"])),
    }))


def derivation_figures(problem, sizes):
    """Derive in two fresh processes, one per size (each with an empty cache), each then calling the other size."""
    out = {}
    for first, other in (sizes, sizes[::-1]):
        with tempfile.TemporaryDirectory(prefix="symgrad-bench-arrays-") as cache:
            env = dict(os.environ, SYMGRAD_CACHE_DIR=cache, SYMGRAD_QUIET="1")
            command = [sys.executable, os.path.abspath(__file__), "--derive-child", problem, str(first), str(other)]
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"derivation child for {problem} failed:\n{done.stderr[-3000:]}")
            out[str(first)] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def quartiles(numerator, denominator):
    """25th and 75th percentiles of the per-round ratios: how much the machine let them wander."""
    ratios = [a / b for a, b in zip(numerator, denominator)]
    return [float(np.percentile(ratios, 25)), float(np.percentile(ratios, 75))]


def symgrad_commit():
    """The checkout's commit, and '+dirty' when symgrad/ differs from it (kernels change with symgrad's code)."""
    root = os.path.dirname(HERE)
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "symgrad"], cwd=root, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


# ---------------------------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------------------------
def settings(quick):
    # Short batches and many rounds: on a shared 2-core machine the speed changes from one scheduler slice to the
    # next, and a ratio of two batches a few ms apart is steadier than one of batches far apart.
    if quick:
        return {"repeat": 41, "batch_s": 0.002, "check_points": 2}
    return {"repeat": 201, "batch_s": 0.003, "check_points": 5}


def run(quick):
    config = settings(quick)
    started = time.perf_counter()
    results = {"mode": "quick" if quick else "full", "settings": config, "machine": machine_info(), "rows": [],
               "derivation": {}, "load_average_start": _load_average()}
    cache = tempfile.mkdtemp(prefix="symgrad-bench-arrays-")
    os.environ["SYMGRAD_CACHE_DIR"] = cache
    results["cache_directory"] = cache

    log("JAX: importing...")
    twins, to_device, jax_version = jax_twins()
    results["machine"]["jax"] = jax_version
    results["machine"]["symgrad_commit"] = symgrad_commit()
    rng = np.random.default_rng(20240612)

    transforms = {}
    for name, (function, wrt, by_hand, sizes, _, label) in PROBLEMS.items():
        for parallel in (False, True) if name in THREADED else (False,):
            vg = sg.value_and_grad(function, wrt=wrt, parallel=parallel)
            if not parallel:
                transforms[name] = vg
            modules = set()
            for size in sizes:
                log(f"{name} {label.format(size)}: compile, check, time")
                args = make_args(name, size, rng)
                t0 = time.perf_counter()
                vg(*args)
                first_call = time.perf_counter() - t0
                modules.add(vg._load().__file__)
                by_hand(*args)
                jax_args = to_device(args)
                twins[name](*jax_args)

                points = [args] + [make_args(name, size, rng) for _ in range(config["check_points"] - 1)]
                err_random = max(relative_error(vg(*p), by_hand(*p)) for p in points)
                err_sparse = relative_error(vg(*sparse_copy(args)), by_hand(*sparse_copy(args)))
                err_jax = max(relative_error(vg(*p), twins[name](*to_device(p))) for p in points)

                # JAX on its device arrays, behind a wrapper that ignores the host arguments (the wrapper costs
                # ~0.1 us, against JAX's several us of dispatch), so that all four are timed in the same rounds.
                jax_call = twins[name]

                def jax_on_device(*_host_args, _call=jax_call, _args=jax_args):
                    return _call(*_args)

                functions = {"symgrad": vg, "dispatcher": vg.kernels.value_and_grad, "hand": by_hand,
                             "jax": jax_on_device}
                times = python_call_times(functions, args, config["repeat"], config["batch_s"])
                row = {
                    "problem": name, "size": size, "sizes": label.format(size) + (" threads" if parallel else ""),
                "first_call_s": first_call,
                    "symgrad_s": median(times["symgrad"]), "dispatcher_s": median(times["dispatcher"]),
                    "hand_s": median(times["hand"]), "jax_s": median(times["jax"]),
                    "ratio": paired_ratio(times["symgrad"], times["hand"]),
                    "ratio_dispatcher": paired_ratio(times["dispatcher"], times["hand"]),
                    "jax_over_symgrad": paired_ratio(times["jax"], times["symgrad"]),
                    "ratio_quartiles": quartiles(times["symgrad"], times["hand"]),
                    "jax_over_symgrad_quartiles": quartiles(times["jax"], times["symgrad"]),
                    "max_rel_err": max(err_random, err_sparse), "max_rel_err_random": err_random,
                    "max_rel_err_sparse": err_sparse, "max_rel_err_vs_jax": err_jax,
                }
                results["rows"].append(row)
            if parallel:
                continue
            dispatcher = vg.kernels.value_and_grad
            results["derivation"][name] = {"in_process": {
                "sizes": list(sizes), "modules": sorted(os.path.basename(m) for m in modules),
                "signatures": len(dispatcher.signatures), "overloads": len(dispatcher.overloads)}}

    for name, spec in PROBLEMS.items():
        log(f"{name}: derivation time in fresh processes, sizes {spec[4]}")
        results["derivation"][name]["fresh"] = derivation_figures(name, spec[4])
        results["derivation"][name]["sizes"] = list(spec[4])
        results["derivation"][name]["label"] = spec[5]

    results["sources"] = {name: vg.source() for name, vg in transforms.items()}
    results["elapsed_s"] = time.perf_counter() - started
    results["load_average_end"] = _load_average()
    return results


# ---------------------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------------------
def _us(seconds):
    return f"{seconds * 1e6:,.2f}" if seconds < 1e-4 else f"{seconds * 1e6:,.1f}"


def verdict(row):
    checks = (("ratio", row["ratio"] <= RATIO_TARGET), ("JAX", row["jax_over_symgrad"] > JAX_TARGET),
              ("error", row["max_rel_err"] <= TOLERANCE))
    failed = [what for what, ok in checks if not ok]
    row["pass"] = not failed
    return "PASS" if not failed else "FAIL: " + ", ".join(failed)


def report(results):
    m, c = results["machine"], results["settings"]
    out = [f"symgrad array benchmark ({results['mode']} mode)",
           f"machine : {m['cpu']} | {m['cores']} cores ({m['usable_cores']} usable) | {m['platform']}",
           (f"versions: Python {m['python']}, numba {m['numba']} (llvmlite {m['llvmlite']}), numpy {m['numpy']}, "
            f"jax {m.get('jax', '?')} (CPU, x64), symgrad {m['symgrad']} (commit {m.get('symgrad_commit', '?')})"),
           (f"settings: {c['repeat']} rounds of interleaved batches of ~{c['batch_s'] * 1e3:g} ms per function; "
            f"{c['check_points']} random points per correctness check"),
           f"targets : symgrad/hand <= {RATIO_TARGET}x, JAX/symgrad > {JAX_TARGET:g}x, max rel err <= {TOLERANCE:g}",
           ""]
    header = (f"{'problem':<10}  {'sizes':<14}  {'symgrad us':>10}  {'hand us':>9}  {'ratio':>6}  {'JAX us':>9}  "
              f"{'JAX/sg':>7}  {'max rel err':>11}  result")
    out += [header, "-" * len(header)]
    for row in results["rows"]:
        out.append(f"{row['problem']:<10}  {row['sizes']:<14}  {_us(row['symgrad_s']):>10}  {_us(row['hand_s']):>9}  "
                   f"{row['ratio']:>5.2f}x  {_us(row['jax_s']):>9}  {row['jax_over_symgrad']:>6.1f}x  "
                   f"{row['max_rel_err']:>11.1e}  {verdict(row)}")
    out.append("-" * len(header))
    out.append(f"{sum(r['pass'] for r in results['rows'])}/{len(results['rows'])} rows within all targets")
    out.append("ratio and JAX/sg: medians of per-round ratios (batches timed side by side); us/call: medians.")
    out.append("per-round spread (25th-75th percentile), ratio | JAX/sg: " + ", ".join(
        f"{r['problem']} {r['sizes']} {r['ratio_quartiles'][0]:.2f}-{r['ratio_quartiles'][1]:.2f} | "
        f"{r['jax_over_symgrad_quartiles'][0]:.1f}-{r['jax_over_symgrad_quartiles'][1]:.1f}" for r in results["rows"]))
    out.append("bare Numba dispatcher (vg.kernels.value_and_grad) / hand: " + ", ".join(
        f"{r['problem']} {r['sizes']} {r['ratio_dispatcher']:.2f}x" for r in results["rows"]))
    out.append("max rel err: over the value and all gradient components, |sg - hand| / max(|sg|, |hand|, 1e-6 x "
               "the largest |hand|);")
    out.append(f"it is the larger of: {c['check_points']} random points | the first with every 7th array "
               "element set to 0.0 (sparse): " + ", ".join(
        f"{r['problem']} {r['sizes']} {r['max_rel_err_random']:.1e} | {r['max_rel_err_sparse']:.1e}"
        for r in results["rows"]))
    out.append("max rel err vs JAX (random points; information): " + ", ".join(
        f"{r['problem']} {r['sizes']} {r['max_rel_err_vs_jax']:.1e}" for r in results["rows"]))
    out.append("")
    out.append("derivation (once per argument kind, not per data size): a fresh process per size, empty cache;")
    out.append("derive = transform._derived(); first call = store + Numba compile + run at that size; then a call")
    out.append("at the other size: 're-derived' counts derivations it started, 'same module' compares")
    out.append("transform._load().__file__ before and after, 'sig' = compiled signatures of the dispatcher")
    header = (f"{'problem':<10}  {'size':<14}  {'derive s':>8}  {'1st call s':>10}  {'module':<34}  "
              f"{'other size':<14}  {'re-derived':>10}  {'same module':>11}  {'sig':>3}")
    out += [header, "-" * len(header)]
    for name, d in results["derivation"].items():
        sizes = d["sizes"]
        for size, other in (sizes, sizes[::-1]):
            f = d["fresh"][str(size)]
            out.append(f"{name:<10}  {d['label'].format(size):<14}  {f['derive_s']:>8.3f}  {f['first_call_s']:>10.2f}  "
                       f"{f['module']:<34}  {d['label'].format(other):<14}  {f['derivations_on_other_size']:>10}  "
                       f"{f['same_module']!s:>11}  {f['signatures']:>3}")
        modules = {d["fresh"][str(s)]["module"] for s in sizes}
        inproc = d["in_process"]
        out.append(f"{'':<10}  -> one module for both sizes across processes: {len(modules) == 1}; in this process, "
                   f"sizes {inproc['sizes']} used {len(inproc['modules'])} module(s), {inproc['signatures']} "
                   f"signature(s)")
    out.append("-" * len(header))
    loads = [results.get("load_average_start"), results.get("load_average_end")]
    if all(loads):
        out.append(f"1-minute load average at start / end: {loads[0][0]:.2f} / {loads[1][0]:.2f}")
    out.append(f"total benchmark time {results['elapsed_s']:.0f} s")
    return "\n".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and correctness points")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    parser.add_argument("--derive-child", nargs=3, metavar=("PROBLEM", "SIZE", "OTHER"), help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.derive_child:
        problem, first, other = options.derive_child
        derive_child(problem, int(first), int(other))
        return 0
    import shutil

    results = None
    try:
        results = run(options.quick)
        print(report(results), flush=True)
        if options.json:
            with open(options.json, "w") as handle:
                json.dump(results, handle, indent=2)
            log(f"results written to {options.json}")
    finally:
        if results is not None:
            shutil.rmtree(results["cache_directory"], ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
