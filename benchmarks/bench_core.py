"""Core benchmark of symgrad against hand-written Numba gradients and JAX.

    python benchmarks/bench_core.py            # full run (a few minutes on 2 cores)
    python benchmarks/bench_core.py --quick    # fewer repeats, shorter loops
    python benchmarks/bench_core.py --json results.json

Problems: rosen2 (2-D Rosenbrock), a tanh neuron with binary cross entropy, 2-D Ackley and a 60-step chain
``x = sin(x)*cos(0.5*x + a) + 0.1*x``.  Each is written once as plain Python (`bench_problems`, and a generated
module for the chain), differentiated with ``symgrad.value_and_grad``, and compared with

* a hand-written gradient compiled with ``numba.njit`` that returns ``(value, (gradients...))`` like symgrad;
* a JAX twin, ``jax.jit(jax.value_and_grad(f, argnums=...))`` on the CPU in float64.

Figures (medians of many repeats, warm-up first; ratios are printed, never asserted):

1. per-call time from Python: symgrad ``vg(*args)`` / hand-written njit (target <= 1.5), with the symgrad
   time split into the Python wrapper (``Transform.__call__``) and the Numba dispatcher
   (``vg.kernels.value_and_grad``);
2. JAX per-call time / symgrad per-call time (target >= 10, >= 1 for the chain);
3. inside the user's own ``@numba.njit`` loop: symgrad kernel / hand-written gradient (target <= 1.1);
4. value_and_grad time / value time, inside an njit loop and from Python (target <= 3);
5. start-up latency of a new process that decorates an already-derived function and calls it once, minus
   that of ``python -c "import numba"`` (target <= 0.3 s);

and the correctness of symgrad's value and gradient against the hand-written ones (and JAX).
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# The problems are imported as top-level modules, here and in the latency subprocesses alike, so that their
# `__module__` (part of symgrad's cache key) is the same everywhere.
if HERE not in sys.path:
    sys.path.insert(0, HERE)
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import bench_problems
import hand
import numba
import numpy as np
import problems
import systems
from bench_problems import CHAIN_MODULE
from timing import log, median, paired_ratio, python_call_times

import symgrad as sg

# Set by prepare(): one temporary directory per run holding the symgrad cache (SYMGRAD_CACHE_DIR, inherited by
# every subprocess) and the generated modules.
WORK_DIRECTORY = CACHE_DIRECTORY = GENERATED_DIRECTORY = None

# A baseline for the new-process figure: the first call of a plain ``cache=True`` njit function in a fresh
# process pays Numba's own one-time set-up (typing/target registries), which has nothing to do with symgrad.
CACHED_NJIT_CODE = "import hand\nhand.njit(hand.rosen2_hand)(1.5, 2.0)\n"


def prepare():
    """Create the run's temporary directory, point symgrad's cache into it, write and import the generated
    chain module and return it."""
    global WORK_DIRECTORY, CACHE_DIRECTORY, GENERATED_DIRECTORY
    WORK_DIRECTORY = tempfile.mkdtemp(prefix="symgrad-bench-")
    CACHE_DIRECTORY = os.path.join(WORK_DIRECTORY, "cache")
    GENERATED_DIRECTORY = os.path.join(WORK_DIRECTORY, "generated")
    os.makedirs(GENERATED_DIRECTORY)
    os.environ["SYMGRAD_CACHE_DIR"] = CACHE_DIRECTORY
    return bench_problems.write_module(GENERATED_DIRECTORY, CHAIN_MODULE, bench_problems.chain_source())


rosen2_hand, neuron_hand, ackley_hand, chain_hand = (
    hand.njit(f) for f in (hand.rosen2_hand, hand.neuron_hand, hand.ackley_hand, hand.chain_hand))


# ---------------------------------------------------------------------------------------------------------------
# JAX twins (imported lazily: JAX is only needed for figure 2 and the cross-check)
# ---------------------------------------------------------------------------------------------------------------
def jax_twins():
    """``jax.jit(jax.value_and_grad(twin))`` for every problem, as the comparison harness builds it."""
    jax = systems.SYSTEMS["jax"]
    version = jax.version()
    twins = {name: jax.build(p, p.args(None)).call for name, p in problems.PROBLEMS.items() if name in JAX_TARGETS}
    return twins, version


# ---------------------------------------------------------------------------------------------------------------
# Problems
# ---------------------------------------------------------------------------------------------------------------
class Problem:
    def __init__(self, name, function, wrt, hand, args, sample, jax_target, description):
        self.name = name
        self.function = function
        self.wrt = wrt
        self.hand = hand
        self.args = tuple(float(a) for a in args)
        self.sample = sample  # rng -> one random argument tuple
        self.jax_target = jax_target  # figure 2: JAX per-call time / symgrad's should be at least this
        self.description = description
        self.vg = sg.value_and_grad(function, wrt=wrt)


JAX_TARGETS = {"rosen2": 10.0, "neuron": 10.0, "ackley": 10.0, "chain60": 1.0}


def make_problems(chain_module):
    return [Problem(name, p.function(), p.wrt, hand.njit(p.hand()), p.args(None), p.sample, JAX_TARGETS[name],
                    f"{p.label}, wrt {p.wrt}") for name, p in problems.PROBLEMS.items() if name in JAX_TARGETS]


# ---------------------------------------------------------------------------------------------------------------
# Timing helpers
# ---------------------------------------------------------------------------------------------------------------
LOOP_TEMPLATE = '''
@numba.njit(error_model="numpy")
def {loop}(n, {params}):
    acc = 0.0
    for i in range(n):
        d = 1e-12 * i  # every argument moves a little each iteration: nothing can be hoisted out of the loop
        r = {kernel}({moved})
        acc += {accumulate}
    return acc
'''


def make_loop(loop, kernel_global, arity, gradient_size):
    """Define, from the template, an njit loop calling the module-level global `kernel_global` n times.

    The kernel is assigned to its global before this is called, and Numba freezes globals when it compiles."""
    params = ", ".join(f"a{k}" for k in range(arity))
    moved = ", ".join(f"a{k} {'+' if k % 2 == 0 else '-'} d" for k in range(arity))
    if gradient_size is None:
        accumulate = "r"
    else:
        accumulate = " + ".join(["r[0]"] + [f"r[1][{k}]" for k in range(gradient_size)])
    source = LOOP_TEMPLATE.format(loop=loop, kernel=kernel_global, params=params, moved=moved, accumulate=accumulate)
    exec(compile(source, f"<bench loop {loop}>", "exec"), globals())  # noqa: S102 (generated timing code)
    return globals()[loop]


def njit_loop_times(loops, args, n, repeat):
    """Per-call seconds (one sample per repeat) of each njit loop (name -> dispatcher), interleaved like
    python_call_times."""
    names = list(loops)
    for name in names:
        loops[name](1000, *args)  # compile and warm up
    samples = {name: [] for name in names}
    for r in range(repeat):
        for name in names[r % len(names):] + names[:r % len(names)]:
            start = time.perf_counter()
            loops[name](n, *args)
            samples[name].append((time.perf_counter() - start) / n)
    return samples


def subprocess_times(codes, repeat):
    """Wall seconds (one sample per repeat) of a fresh ``python -c CODE`` for each code in `codes` (name -> code).

    Each runs once untimed first (to warm the OS file cache and Numba's cache index); then the runs are
    interleaved, rotating the order every repeat, like the in-process timings."""
    env = dict(os.environ)  # SYMGRAD_CACHE_DIR included
    env["PYTHONPATH"] = os.pathsep.join([GENERATED_DIRECTORY, HERE] + (
        [env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    commands = {name: [sys.executable, "-c", code] for name, code in codes.items()}
    for command in commands.values():
        subprocess.run(command, env=env, check=True, capture_output=True)
    names = list(commands)
    samples = {name: [] for name in names}
    for r in range(repeat):
        for name in names[r % len(names):] + names[:r % len(names)]:
            start = time.perf_counter()
            subprocess.run(commands[name], env=env, check=True, capture_output=True)
            samples[name].append(time.perf_counter() - start)
    return samples


def paired_difference(samples, baseline):
    return statistics.median(a - b for a, b in zip(samples, baseline))


# ---------------------------------------------------------------------------------------------------------------
# Correctness
# ---------------------------------------------------------------------------------------------------------------
def _flatten(result):
    value, gradient = result
    return np.array([float(value)] + [float(g) for g in gradient])


def max_relative_error(f, g, points):
    """max over points and components of |f - g| / max(|f|, |g|) (0 where both are 0)."""
    worst = 0.0
    for point in points:
        a, b = _flatten(f(*point)), _flatten(g(*point))
        scale = np.maximum(np.abs(a), np.abs(b))
        with np.errstate(invalid="ignore", divide="ignore"):
            errors = np.where(scale > 0, np.abs(a - b) / scale, 0.0)
        worst = max(worst, float(np.max(errors)))
    return worst


# ---------------------------------------------------------------------------------------------------------------
# Machine
# ---------------------------------------------------------------------------------------------------------------
def machine_info():
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    import llvmlite
    return {
        "cpu": cpu or "unknown", "processor": platform.processor(), "cores": os.cpu_count(), "usable_cores": usable,
        "platform": platform.platform(), "python": platform.python_version(), "numba": numba.__version__,
        "llvmlite": llvmlite.__version__, "numpy": np.__version__, "symgrad": sg.__version__,
    }


# ---------------------------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------------------------
def settings(quick):
    if quick:
        return {"py_repeat": 15, "py_batch_s": 0.002, "jax_repeat": 7, "loop_n": 2 * 10**5, "loop_repeat": 3,
                "proc_repeat": 3, "check_points": 100}
    return {"py_repeat": 51, "py_batch_s": 0.004, "jax_repeat": 21, "loop_n": 10**6, "loop_repeat": 7,
            "proc_repeat": 9, "check_points": 1000}


def _load_average():
    try:
        return list(os.getloadavg())
    except OSError:
        return None


def latency_code(problem):
    module = problem.function.__module__
    return (f"import symgrad as sg\nfrom {module} import {problem.function.__name__} as f\n"
            f"vg = sg.value_and_grad(f, wrt={problem.wrt!r})\nvg(*{problem.args!r})\n")


def run(quick):
    """All measurements, as a dict (see report()).  Call prepare() first."""
    config = settings(quick)
    started = time.perf_counter()
    results = {"mode": "quick" if quick else "full", "settings": config, "machine": machine_info(), "problems": {},
               "load_average_start": _load_average()}

    log("deriving and compiling (cold symgrad cache)...")
    problems = make_problems(sys.modules[CHAIN_MODULE])
    for p in problems:
        t0 = time.perf_counter()
        p.vg(*p.args)
        derive = time.perf_counter() - t0
        p.vg.kernels.value(*p.args)
        p.hand(*p.args)
        results["problems"][p.name] = {"description": p.description, "cold_first_call_s": derive,
                                       "jax_target": p.jax_target}
        log(f"  {p.name}: first call (derive + compile) {derive:.2f} s")

    log("JAX: tracing and compiling twins...")
    twins, jax_version = jax_twins()
    results["machine"]["jax"] = jax_version
    for p in problems:
        twins[p.name](*p.args)

    rng = np.random.default_rng(20240601)
    for p in problems:
        r = results["problems"][p.name]
        log(f"{p.name}: correctness")
        points = [p.sample(rng) for _ in range(config["check_points"])]
        r["max_rel_err_vs_hand"] = max_relative_error(p.vg, p.hand, points)
        r["max_rel_err_vs_jax"] = max_relative_error(p.vg, twins[p.name], points[:max(50, len(points) // 10)])

        log(f"{p.name}: per-call time from Python")
        kernels = p.vg.kernels
        times = python_call_times({"symgrad": p.vg, "dispatcher": kernels.value_and_grad, "hand": p.hand,
                                   "value": kernels.value}, p.args, config["py_repeat"], config["py_batch_s"])
        r["py_symgrad_s"] = median(times["symgrad"])
        r["py_dispatcher_s"] = median(times["dispatcher"])
        r["py_hand_s"] = median(times["hand"])
        r["py_value_s"] = median(times["value"])
        r["py_ratio_symgrad_hand"] = paired_ratio(times["symgrad"], times["hand"])
        r["py_ratio_dispatcher_hand"] = paired_ratio(times["dispatcher"], times["hand"])
        r["py_ratio_symgrad_dispatcher"] = paired_ratio(times["symgrad"], times["dispatcher"])
        r["py_wrapper_overhead_s"] = r["py_symgrad_s"] - r["py_dispatcher_s"]
        r["py_ratio_vg_value"] = paired_ratio(times["dispatcher"], times["value"])

        log(f"{p.name}: JAX per-call time")
        jax_time = python_call_times({"jax": twins[p.name]}, p.args, config["jax_repeat"], config["py_batch_s"] * 4)
        r["py_jax_s"] = median(jax_time["jax"])
        r["jax_over_symgrad"] = r["py_jax_s"] / r["py_symgrad_s"]

        log(f"{p.name}: njit loops of {config['loop_n']} calls")
        arity, size = len(p.args), len(p.wrt)
        globals()[f"SG_VG_{p.name}"] = kernels.value_and_grad  # module-level globals, assigned before the loops
        globals()[f"SG_VALUE_{p.name}"] = kernels.value        # that reference them are defined
        globals()[f"HAND_{p.name}"] = p.hand
        loops = {
            "symgrad": make_loop(f"loop_sg_vg_{p.name}", f"SG_VG_{p.name}", arity, size),
            "hand": make_loop(f"loop_hand_{p.name}", f"HAND_{p.name}", arity, size),
            "value": make_loop(f"loop_sg_value_{p.name}", f"SG_VALUE_{p.name}", arity, None),
        }
        sums = {name: loop(1000, *p.args) for name, loop in loops.items()}
        r["loop_sum_rel_diff"] = abs(sums["symgrad"] - sums["hand"]) / max(abs(sums["hand"]), 1e-300)
        times = njit_loop_times(loops, p.args, config["loop_n"], config["loop_repeat"])
        r["loop_symgrad_s"] = median(times["symgrad"])
        r["loop_hand_s"] = median(times["hand"])
        r["loop_value_s"] = median(times["value"])
        r["loop_ratio_symgrad_hand"] = paired_ratio(times["symgrad"], times["hand"])
        r["loop_ratio_vg_value"] = paired_ratio(times["symgrad"], times["value"])

    log("new-process latency")
    codes = {"import numba": "import numba", "cached njit": CACHED_NJIT_CODE}
    codes.update({p.name: latency_code(p) for p in problems})
    times = subprocess_times(codes, config["proc_repeat"])
    results["proc_import_numba_s"] = median(times["import numba"])
    results["proc_cached_njit_s"] = median(times["cached njit"])
    results["proc_samples_s"] = times
    for p in problems:
        r = results["problems"][p.name]
        r["proc_first_call_s"] = median(times[p.name])
        r["proc_latency_over_numba_s"] = paired_difference(times[p.name], times["import numba"])
        r["proc_latency_over_cached_njit_s"] = paired_difference(times[p.name], times["cached njit"])

    results["elapsed_s"] = time.perf_counter() - started
    results["load_average_end"] = _load_average()
    return results


# ---------------------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------------------
TOLERANCE = 1e-9

# (key, label, target text, test, format)
FIGURES = [
    ("py_ratio_symgrad_hand", "1 py call: symgrad / hand njit", "<= 1.5x", lambda v, p: v <= 1.5, "{:.2f}x"),
    ("jax_over_symgrad", "2 py call: JAX / symgrad", None, None, "{:.1f}x"),
    ("loop_ratio_symgrad_hand", "3 njit loop: symgrad / hand", "<= 1.1x", lambda v, p: v <= 1.1, "{:.3f}x"),
    ("loop_ratio_vg_value", "4 vg/value (njit loop)", "<= 3x", lambda v, p: v <= 3.0, "{:.2f}x"),
    ("py_ratio_vg_value", "4 vg/value (py call)", "<= 3x", lambda v, p: v <= 3.0, "{:.2f}x"),
    ("proc_latency_over_numba_s", "5 new process - import numba", "<= 0.3 s", lambda v, p: v <= 0.3, "{:.3f} s"),
    ("proc_latency_over_cached_njit_s", "  (info) new process - cached njit", None, None, "{:.3f} s"),
    ("max_rel_err_vs_hand", "correctness: max rel err vs hand", f"<= {TOLERANCE:g}",
     lambda v, p: v <= TOLERANCE, "{:.1e}"),
    ("max_rel_err_vs_jax", "correctness: max rel err vs JAX", f"<= {TOLERANCE:g}",
     lambda v, p: v <= TOLERANCE, "{:.1e}"),
]


def _ns(seconds):
    return f"{seconds * 1e9:,.0f} ns" if seconds < 1e-4 else f"{seconds * 1e6:,.1f} us"


def evaluate(results):
    """Add a verdict list to results: one row per (problem, figure)."""
    rows = []
    for name, r in results["problems"].items():
        for key, label, target, test, fmt in FIGURES:
            value = r[key]
            if key == "jax_over_symgrad":  # at least jax_target times faster than JAX; "faster" when that is 1
                goal = r["jax_target"]
                target, passed = (f">= {goal:g}x" if goal > 1 else "> 1x"), (value >= goal if goal > 1 else value > 1)
            elif test is None:
                target, passed = "info", None
            else:
                passed = test(value, name)
            rows.append({"problem": name, "figure": label, "value": value, "shown": fmt.format(value),
                         "target": target,
                         "pass": None if passed is None else bool(passed)})
    results["verdicts"] = rows
    return rows


def report(results):
    m = results["machine"]
    c = results["settings"]
    out = []
    out.append(f"symgrad core benchmark ({results['mode']} mode)")
    out.append(f"machine : {m['cpu']} | processor={m['processor'] or '?'} | {m['cores']} cores "
               f"({m['usable_cores']} usable) | {m['platform']}")
    out.append(f"versions: Python {m['python']}, numba {m['numba']} (llvmlite {m['llvmlite']}), numpy {m['numpy']}, "
               f"jax {m.get('jax', '?')} (CPU, x64), symgrad {m['symgrad']}")
    out.append(f"settings: python-call repeats {c['py_repeat']} (JAX {c['jax_repeat']}), njit loop "
               f"{c['loop_n']:,} calls x {c['loop_repeat']} repeats, new-process repeats {c['proc_repeat']}, "
               f"{c['check_points']} correctness points; medians throughout")
    out.append("")
    rows = evaluate(results)
    width = max(len(r["figure"]) for r in rows)
    header = f"{'problem':<8}  {'figure':<{width}}  {'measured':>10}  {'target':>9}  result"
    out.append(header)
    out.append("-" * len(header))
    last = None
    for row in rows:
        if last is not None and row["problem"] != last:
            out.append("")
        last = row["problem"]
        verdict = "-" if row["pass"] is None else "PASS" if row["pass"] else "FAIL"
        out.append(f"{row['problem']:<8}  {row['figure']:<{width}}  {row['shown']:>10}  {row['target']:>9}  {verdict}")
    judged = [r for r in rows if r["pass"] is not None]
    out.append("-" * len(header))
    out.append(f"{sum(r['pass'] for r in judged)}/{len(judged)} figures within target")
    out.append("")
    out.append("absolute times (median per call)")
    head = (f"{'problem':<8}  {'sg vg()':>9}  {'sg disp.':>9}  {'wrapper':>8}  {'hand':>9}  {'sg value':>9}  "
            f"{'JAX':>10}  | {'loop sg':>9}  {'loop hand':>9}  {'loop val':>9}  | {'new proc':>8}  {'cold 1st':>8}")
    out.append(head)
    for name, r in results["problems"].items():
        out.append(f"{name:<8}  {_ns(r['py_symgrad_s']):>9}  {_ns(r['py_dispatcher_s']):>9}  "
                   f"{_ns(r['py_wrapper_overhead_s']):>8}  {_ns(r['py_hand_s']):>9}  {_ns(r['py_value_s']):>9}  "
                   f"{_ns(r['py_jax_s']):>10}  | {_ns(r['loop_symgrad_s']):>9}  {_ns(r['loop_hand_s']):>9}  "
                   f"{_ns(r['loop_value_s']):>9}  | {r['proc_first_call_s']:>6.3f} s  {r['cold_first_call_s']:>6.2f} s")
    out.append(f"new process baselines: python -c 'import numba' {results['proc_import_numba_s']:.3f} s; a plain "
               f"cache=True @njit function imported and called once {results['proc_cached_njit_s']:.3f} s")
    out.append("sg vg() = the transform called from Python (Transform.__call__); sg disp. = vg.kernels.value_and_grad")
    out.append("called from Python (the bare Numba dispatcher); wrapper = their difference (medians, so noise can make it")
    out.append("negative). Python-call split (paired ratios): " + "; ".join(
        f"{name} vg()/hand {r['py_ratio_symgrad_hand']:.2f}x = dispatcher/hand {r['py_ratio_dispatcher_hand']:.2f}x "
        f"* vg()/dispatcher {r['py_ratio_symgrad_dispatcher']:.2f}x" for name, r in results["problems"].items()))
    out.append("njit-loop sums, symgrad vs hand (relative difference over 1000 iterations): " + ", ".join(
        f"{name} {r['loop_sum_rel_diff']:.1e}" for name, r in results["problems"].items()))
    out.append("ratios in the table are medians of per-repeat ratios of batches timed side by side, except JAX / symgrad")
    out.append("(ratio of medians); new-process differences are medians of per-repeat differences of interleaved runs.")
    out.append("'new proc' = wall time of a fresh python that imports symgrad, decorates the already-derived function")
    out.append("and calls it once (warm symgrad + Numba caches).")
    out.append("cold 1st = first call in this process with an empty symgrad cache (derive + Numba compile)")
    loads = [results.get("load_average_start"), results.get("load_average_end")]
    if all(loads):
        start, end = loads[0][0], loads[1][0]
        out.append(f"1-minute load average at start / end: {start:.2f} / {end:.2f} (other processes share this "
                   "machine's cores; timings are only as steady as that allows)")
    out.append(f"total benchmark time {results['elapsed_s']:.0f} s")
    return "\n".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and shorter njit loops")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    options = parser.parse_args(argv)
    try:
        prepare()
        results = run(options.quick)
        print(report(results), flush=True)
        if options.json:
            with open(options.json, "w") as handle:
                json.dump(results, handle, indent=2)
            log(f"results written to {options.json}")
    finally:
        if WORK_DIRECTORY:
            shutil.rmtree(WORK_DIRECTORY, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
