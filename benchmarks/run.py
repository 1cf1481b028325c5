"""symgrad against the field: every peer, the same problems, one command.

    python -m benchmarks.run --quick                  # a few minutes on 2 cores; prints the tables
    python -m benchmarks.run                          # full mode (what docs/performance.md shows)
    python -m benchmarks.run --write-docs             # full mode, then rewrite docs/performance.md and its plots
    python -m benchmarks.run --quick --systems jax,torch --problems rosen2,mlp --json results.json

Systems (`systems.py`): symgrad; the gradient written by hand in plain Python/NumPy (`hand.py`) and the same
compiled with ``numba.njit`` (hand Numba, the reference every ratio is taken against); JAX; autograd; PyTorch;
SymPy ``diff`` + ``lambdify(cse=True)``; CasADi SX functions; micrograd.  A peer that is not installed is
reported as missing (``pip install -e ".[bench]"`` installs them all).  Problems (`problems.py`): the plain
Python symgrad differentiates, with each peer's twin in `twins.py`; the rows ending in "vectorised" give symgrad
the vectorised NumPy spelling (`array_problems.*_vectorised`), which JAX, autograd and PyTorch run as their twin.

Figures per (system, problem): per-call time of value and gradient from Python (median of interleaved batches)
and its ratio to hand Numba in the same run; the first call in a fresh process (import, then build and first
call: trace, derive, compile) and in a second process with warm caches; the max relative error of value and
gradient against the hand-written gradient (flagged above 1e-8); value_and_grad / value on the scalar problems.
Then the scaling figure (`scaling.py`).
"""

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import numpy as np  # noqa: E402  (after the path: the problem modules are imported as top-level modules)
import problems  # noqa: E402
import stages  # noqa: E402
import systems  # noqa: E402
from systems import NotExpressible, NotRun, TimedOut, time_limit  # noqa: E402
from timing import log  # noqa: E402

SEED = 20240601
FINAL = ("timed out", "not expressible", "not run", "missing")  # what building again would not change

SETTINGS = {
    # Quick: one fresh process per system (its problems one after another) for the latency figures.
    "quick": {"repeat": 15, "batch_s": 0.002, "budget_s": 0.2, "check_points": 2, "cap_s": 30.0,
              "latency_per_pair": False},
    # Full: one fresh process per (system, problem).
    "full": {"repeat": 41, "batch_s": 0.004, "budget_s": 1.0, "check_points": 4, "cap_s": 40.0,
             "latency_per_pair": True},
}


def select(names, available, what):
    """The comma-separated `names` (all of `available` when None), in `available`'s order."""
    if names is None:
        return list(available)
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in available]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)}; choose from {', '.join(available)}")
    return [n for n in available if n in chosen]


# ---------------------------------------------------------------------------------------------------------------
# Building a system's function for a problem, with every way it can fail told apart
# ---------------------------------------------------------------------------------------------------------------
def first_call(system, problem, args, cap):
    """Build and call once, under the time cap: (runner, result, seconds) or raise."""
    start = time.perf_counter()
    with time_limit(cap):
        runner = system.build(problem, args)
        result = runner.call(*runner.native)
    return runner, result, time.perf_counter() - start


def outcome(error):
    """The status and reason a failed build reports."""
    for kind, status in ((NotExpressible, "not expressible"), (NotRun, "not run"), (TimedOut, "timed out")):
        if isinstance(error, kind):
            return {"status": status, "reason": str(error)}
    return {"status": "error", "reason": f"{type(error).__name__}: {error}"[:300]}


# ---------------------------------------------------------------------------------------------------------------
# First-call latency in fresh processes
# ---------------------------------------------------------------------------------------------------------------
def latency_child(system_name, problem_names, cap):
    """In a fresh process: import the system, then build and call each problem once; JSON on stdout."""
    system = systems.SYSTEMS[system_name]
    problems.generate(os.environ["BENCH_GENERATED"])
    if system.package == "symgrad":  # where its first call goes: imports, derivation, each compile
        sys.meta_path.insert(0, stages.StageHook())
    rng = np.random.default_rng(SEED)
    start = time.perf_counter()
    system.version()
    out = {"import_s": time.perf_counter() - start, "problems": {}}
    for name in problem_names:
        problem = problems.PROBLEMS[name]
        args = problem.args(rng)
        before = dict(stages.TIMES)
        try:
            _, _, seconds = first_call(system, problem, args, cap)
            out["problems"][name] = {"status": "ok", "first_call_s": seconds, "import_s": out["import_s"],
                                     "stages": {label: total - before.get(label, 0.0)
                                                for label, total in stages.TIMES.items()
                                                if total > before.get(label, 0.0)}}
        except Exception as error:  # noqa: BLE001  (every failure is a result to report)
            out["problems"][name] = outcome(error)
    print(json.dumps(out))


def latency(pairs, config, phase, work):
    """Run the latency processes for `pairs` (system -> problem names); system -> their reports.

    Each process (one per system, or per pair in full mode) has caches of its own, empty for the cold phase and
    left as the cold process left them for the warm one: no process finds what another compiled."""
    if config["latency_per_pair"]:
        groups = [(s, [p], p) for s, names in pairs.items() for p in names]
    else:
        groups = [(s, names, "all") for s, names in pairs.items() if names]
    reports = {}
    for system, names, key in groups:
        log(f"  {phase} process: {system} {','.join(names) if len(names) < 4 else f'({len(names)} problems)'}")
        caches = os.path.join(work, "caches", system, key)
        env = dict(os.environ, SYMGRAD_CACHE_DIR=os.path.join(caches, "symgrad"),
                   NUMBA_CACHE_DIR=os.path.join(caches, "numba"), BENCH_JAX_CACHE_DIR=os.path.join(caches, "jax"))
        command = [sys.executable, os.path.join(HERE, "run.py"), "--latency-child", system, ",".join(names),
                   str(config["cap_s"])]
        report = _child_report(command, env, config["cap_s"] * len(names) + 300)
        if "failed" in report:
            report = {"import_s": None, "problems": {n: {"status": "error", "reason": report["failed"]} for n in names}}
        entry = reports.setdefault(system, {"import_s": [], "problems": {}})
        if report["import_s"] is not None:
            entry["import_s"].append(report["import_s"])
        entry["problems"].update(report["problems"])
    return reports


def _child_report(command, env, timeout):
    """The JSON a latency process printed last, or {"failed": why}."""
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"failed": f"latency process killed after {timeout:g} s"}
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        return {"failed": f"latency process failed (exit {done.returncode}): {done.stderr.strip()[-300:]}"}


# ---------------------------------------------------------------------------------------------------------------
# Per-call time, ratio to hand Numba, error against the hand-written gradient
# ---------------------------------------------------------------------------------------------------------------
def measure_problem(problem, system_names, config, rng, known=None):
    """Every system on one problem, in this process: system -> figures (or status and reason).

    `known` (system -> status entry) holds what a latency process found; a system that cannot or need not be
    built there (time-out, not expressible, not run, missing) is not built again here."""
    from bench_arrays import relative_error
    from timing import call_times, median, paired_rounds

    args = problem.args(rng)
    points = [args] + [problem.sample(rng) for _ in range(config["check_points"] - 1)]
    references = [systems.SYSTEMS[systems.REFERENCE].build(problem, p).call(*p) for p in points]
    results, calls = {}, {}
    for name in system_names:
        if known and known.get(name, {}).get("status", "ok") in FINAL:
            results[name] = dict(known[name])
            continue
        try:
            runner, _, seconds = first_call(systems.SYSTEMS[name], problem, args, config["cap_s"])
            errors = [relative_error(runner.to_numpy(runner.call(*runner.convert(p))), reference)
                      for p, reference in zip(points, references)]
            if problem.scalar:
                with time_limit(config["cap_s"]):
                    calls[name + ":value"] = (runner.make_value(), runner.native)
            calls[name] = (runner.call, runner.native)
        except Exception as error:  # noqa: BLE001  (every failure is a result to report)
            results[name] = outcome(error)
            continue
        results[name] = {"status": "ok", "in_process_first_call_s": seconds, "max_rel_err": max(errors)}
    samples = call_times(calls, config["repeat"], config["batch_s"], config["budget_s"])
    reference = samples.get(systems.REFERENCE)
    for name, entry in results.items():
        if name not in samples:
            continue
        entry["call_s"] = median([s for _, s in samples[name]])
        entry["samples"] = len(samples[name])
        if reference:
            entry["ratio"] = paired_rounds(samples[name], reference)
        if problem.vectorised and "jax" in samples:  # the second floor: faster than JAX on the same text
            entry["ratio_to_jax"] = paired_rounds(samples[name], samples["jax"])
        if name + ":value" in samples:
            entry["value_s"] = median([s for _, s in samples[name + ":value"]])
            entry["vg_over_value"] = paired_rounds(samples[name], samples[name + ":value"])
    return results


# ---------------------------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------------------------
def machine(versions):
    from bench_arrays import symgrad_commit
    from bench_core import machine_info

    info = machine_info()
    info["symgrad_commit"] = symgrad_commit()
    if versions.get("symgrad", {}).get("version"):
        versions["symgrad"]["version"] += f" (commit {info['symgrad_commit']})"
    info["systems"] = versions
    info["threads"] = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
                       "torch": _torch_threads() if versions.get("torch", {}).get("version") else None}
    return info


def _torch_threads():
    import torch

    return torch.get_num_threads()


# The environment a run sets for itself and the processes it starts.
ENVIRONMENT = ("SYMGRAD_CACHE_DIR", "BENCH_GENERATED", "BENCH_JAX_CACHE_DIR", "SYMGRAD_QUIET", "JAX_PLATFORMS")


def prepare(work):
    """This process's symgrad cache and the generated modules, in `work`.  Latency processes get caches of their
    own, Numba's included; this one leaves NUMBA_CACHE_DIR alone (Numba rereads it at times, and a caller's
    later compilations would follow it into a directory that is removed)."""
    for variable, directory in (("SYMGRAD_CACHE_DIR", "symgrad"), ("BENCH_GENERATED", "generated")):
        os.environ[variable] = os.path.join(work, directory)
    os.environ.pop("BENCH_JAX_CACHE_DIR", None)
    os.environ["SYMGRAD_QUIET"] = "1"
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    problems.generate(os.environ["BENCH_GENERATED"])


def run(options):
    config = dict(SETTINGS["quick" if options.quick else "full"])
    if options.cap is not None:
        config["cap_s"] = options.cap
    system_names = select(options.systems, systems.SYSTEMS, "systems")
    if systems.REFERENCE not in system_names:
        system_names.insert(1 if system_names[:1] == ["symgrad"] else 0, systems.REFERENCE)
    problem_names = select(options.problems, problems.PROBLEMS, "problems")
    started, source = time.perf_counter(), _symgrad_source()
    results = {"mode": "quick" if options.quick else "full", "settings": config,
               "command": "python -m benchmarks.run " + " ".join(options.argv),
               "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "load_average_start": _load_average(), "systems": system_names, "problems": {}}

    log("importing the systems...")
    versions = {}
    for name in system_names:
        try:
            versions[name] = {"label": systems.SYSTEMS[name].label, "version": systems.SYSTEMS[name].version(),
                              "cache": systems.SYSTEMS[name].cache}
        except ImportError as error:
            versions[name] = {"label": systems.SYSTEMS[name].label, "version": None, "missing": str(error)}
            log(f"  {name}: missing ({error})")
    results["machine"] = machine(versions)
    present = [n for n in system_names if versions[n]["version"]]

    cold, warm = {}, {}
    if not options.no_latency:
        log("first call in fresh processes, empty caches...")
        cold = latency({s: problem_names for s in present}, config, "cold", options.work)
        failed = {(s, p) for s, r in cold.items() for p, e in r["problems"].items() if e["status"] != "ok"}
        log("first call in fresh processes, warm caches...")
        warm = latency({s: [p for p in problem_names if (s, p) not in failed]
                        for s in present if systems.SYSTEMS[s].cache != "none"}, config, "warm", options.work)
        results["imports"] = {s: {"cold_s": _median_or_none(cold.get(s, {}).get("import_s")),
                                  "warm_s": _median_or_none(warm.get(s, {}).get("import_s"))} for s in present}

    rng = np.random.default_rng(SEED)
    for name in problem_names:
        problem = problems.PROBLEMS[name]
        log(f"{name}: build, check, time")
        known = {s: cold[s]["problems"][name] for s in cold if name in cold[s]["problems"]}
        known.update({s: {"status": "missing", "reason": versions[s]["missing"]} for s in system_names
                      if not versions[s]["version"]})
        entries = measure_problem(problem, system_names, config, rng, known)
        for system, entry in entries.items():
            for phase, reports in (("cold", cold), ("warm", warm)):
                report = reports.get(system, {}).get("problems", {}).get(name)
                if report and report["status"] == "ok":  # the first result, counted from the import
                    entry[f"{phase}_first_call_s"] = report["first_call_s"] + report["import_s"]
        results["problems"][name] = {"label": problem.label, "scalar": problem.scalar,
                                     "vectorised": problem.vectorised, "systems": entries}

    if not options.no_scaling:
        import scaling

        results["scaling"] = scaling.run(options.quick, config, present, measure_problem)
    results["symgrad_source_changed"] = _symgrad_source() != source
    results["elapsed_s"] = time.perf_counter() - started
    results["load_average_end"] = _load_average()
    return results


def _symgrad_source():
    """A hash of symgrad's own source (part of its cache key): a change mid-run makes later figures another
    version's."""
    from symgrad.cache import _package_fingerprint

    return _package_fingerprint()


def _median_or_none(values):
    return float(np.median(values)) if values else None


def _load_average():
    try:
        return list(os.getloadavg())
    except OSError:
        return None


def measure(options, argv):
    """The whole run, in a temporary directory of caches and generated modules removed afterwards."""
    options.argv = argv
    options.work = tempfile.mkdtemp(prefix="symgrad-field-")
    try:
        prepare(options.work)
        return run(options)
    finally:
        shutil.rmtree(options.work, ignore_errors=True)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, one latency process per system, "
                                                               "smaller scaling sizes (a few minutes on 2 cores)")
    parser.add_argument("--systems", metavar="A,B", help=f"systems to run (default all: {', '.join(systems.SYSTEMS)})"
                                                           "; hand Numba, the reference, always runs")
    parser.add_argument("--problems", metavar="A,B", help=f"problems to run (default all: "
                                                            f"{', '.join(problems.PROBLEMS)})")
    parser.add_argument("--json", metavar="PATH", help="also write every figure as JSON to PATH")
    parser.add_argument("--write-docs", nargs="?", const=os.path.join(os.path.dirname(HERE), "docs"), metavar="DIR",
                        help="rewrite performance.md and its plots in DIR (default: the repository's docs/)")
    parser.add_argument("--cap", type=float, metavar="S", help="time cap per build (trace/derive/compile) in "
                                                                 "seconds (default: 10 quick, 40 full)")
    parser.add_argument("--no-latency", action="store_true", help="skip the fresh-process latency figures")
    parser.add_argument("--no-scaling", action="store_true", help="skip the scaling figure")
    parser.add_argument("--report", metavar="JSON", help="print (and with --write-docs, publish) the results that "
                                                          "an earlier run wrote with --json, without measuring")
    parser.add_argument("--latency-child", nargs=3, metavar=("SYSTEM", "PROBLEMS", "CAP"), help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.latency_child:
        system, names, cap = options.latency_child
        latency_child(system, names.split(","), float(cap))
        return 0
    if options.report:
        with open(options.report) as handle:
            results = json.load(handle)
    else:
        results = measure(options, argv)
        if options.json:  # before the report: the figures survive a failure to report them
            with open(options.json, "w") as handle:
                json.dump(results, handle, indent=2)
            log(f"results written to {options.json}")
    import report

    print(report.text(results), flush=True)
    if options.write_docs:
        for path in report.write_docs(results, options.write_docs):
            log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
