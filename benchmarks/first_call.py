"""Where a new user's first call goes: the README's `rosen`, each step in a fresh process.

    python benchmarks/first_call.py            # cold (empty cache), warm (the cache the cold run left), bare @njit
    python benchmarks/first_call.py --problems all [--write-docs]   # every field problem, beside JAX and Numba

Each run is a fresh interpreter.  It times `import symgrad`, then the README's calls in order (`rosen(1.5, 2.0)`,
`rosen.value_and_grad(1.5, 2.0)`, `rosen.latex()`), and, inside them, every stage symgrad runs: an import hook wraps
the stage functions (frontend, reverse, codegen, display, each kernel's compile, the cache) as their modules load,
without importing any of them early, and also times the import of SymPy and Numba where it happens.  Times are
inclusive (a stage that calls another includes it).  Beside them: a bare `@numba.njit(cache=True)` function's first
call in a fresh process, with its on-disk cache already written, which is the floor a warm first call can reach.
"""

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import stages  # noqa: E402  (after the path: a sibling module)

README_ROSEN = '''
import symgrad as sg

@sg.grad(wrt=("x", "y"))
def rosen(x, y):
    return (1 - x)**2 + 100 * (y - x**2)**2
'''

BARE_NJIT = '''
import numba

@numba.njit(cache=True)
def rosen_grad(x, y):
    return 2 * (x - 1) - 400 * x * (y - x * x), 200 * (y - x * x)
'''

def child(directory):
    """One fresh process: the README's calls, timed -> JSON on stdout."""
    sys.meta_path.insert(0, stages.StageHook())
    sys.path.insert(0, directory)
    start = time.perf_counter()
    import symgrad  # noqa: F401

    stages.record("import symgrad", time.perf_counter() - start)
    import readme_rosen

    for label, call in [("rosen(1.5, 2.0)", lambda: readme_rosen.rosen(1.5, 2.0)),
                        ("rosen.value_and_grad(1.5, 2.0)", lambda: readme_rosen.rosen.value_and_grad(1.5, 2.0)),
                        ("rosen.latex()", lambda: readme_rosen.rosen.latex())]:
        start = time.perf_counter()
        call()
        stages.record(f"call {label}", time.perf_counter() - start)
    print(json.dumps(stages.TIMES))


def bare_child(directory):
    """One fresh process: import Numba and call a cached @njit function once -> JSON on stdout."""
    sys.path.insert(0, directory)
    start = time.perf_counter()
    import numba  # noqa: F401

    imported = time.perf_counter()
    import bare_njit

    bare_njit.rosen_grad(1.5, 2.0)
    print(json.dumps({"import numba": imported - start, "import + first call": time.perf_counter() - start}))


def _fresh(mode, directory, cache):
    environment = dict(os.environ, SYMGRAD_CACHE_DIR=cache, SYMGRAD_QUIET="1")
    start = time.perf_counter()
    completed = subprocess.run([sys.executable, __file__, mode, directory], capture_output=True, text=True,
                               env=environment, timeout=300, check=True)
    return time.perf_counter() - start, json.loads(completed.stdout.strip().splitlines()[-1])


def main():
    with tempfile.TemporaryDirectory(prefix="symgrad_first_call_") as directory:
        (pathlib.Path(directory) / "readme_rosen.py").write_text(textwrap.dedent(README_ROSEN))
        (pathlib.Path(directory) / "bare_njit.py").write_text(textwrap.dedent(BARE_NJIT))
        cache = str(pathlib.Path(directory) / "cache")
        runs = {"cold": _fresh("child", directory, cache), "warm": _fresh("child", directory, cache)}
        _fresh("bare-child", directory, cache)  # writes the @njit function's cache
        bare_wall, bare = _fresh("bare-child", directory, cache)
    for _, times in runs.values():
        derivation = [seconds for label, seconds in times.items() if label.split(".")[0] in stages.DERIVATION]
        if derivation:
            times["derivation: frontend + reverse + codegen"] = sum(derivation)
    labels = list(dict.fromkeys(label for _, times in runs.values() for label in times))
    print("first call of the README's rosen, each in a fresh process (seconds; stages are inclusive)")
    print(f"{'':<44}{'cold':>9}{'warm':>9}")
    for label in labels:
        cells = [f"{runs[kind][1][label]:9.3f}" if label in runs[kind][1] else f"{'-':>9}" for kind in runs]
        print(f"  {label:<42}{''.join(cells)}")
    print(f"  {'whole process (interpreter start included)':<42}{runs['cold'][0]:9.3f}{runs['warm'][0]:9.3f}")
    print("a bare cached @numba.njit function in a fresh process (its cache written by an earlier process):")
    print(f"  import numba {bare['import numba']:.3f}, import + first call {bare['import + first call']:.3f}, "
          f"whole process {bare_wall:.3f}")


# --- every problem of the field benchmark --------------------------------------------------------------------
BREAKDOWN_HEADER = ["problem", "symgrad cold", "imports", "derivation", "compile", "rest", "JAX cold",
                    "hand Numba cold", "cold / JAX", "symgrad warm", "cached @njit", "warm - @njit"]
BREAKDOWN_NOTE = """\
Each figure is one fresh process (`python benchmarks/first_call.py --problems all`, the field benchmark's latency
children: one process per system and problem, caches of its own, empty when cold, as the cold process left them
when warm), timed from the import of the system to the end of its first call of value and gradient. symgrad's cold
time is split into its imports (symgrad, then SymPy and Numba where the call imports them), its derivation (parse,
reverse or forward mode, codegen), the compile of the kernel called (Numba) and the rest (the cache's reads and
writes, the call). hand Numba is the gradient written by hand with `@numba.njit(cache=True)`; warm, it is a bare
cached `@njit` function's first call in a fresh process, the floor a warm symgrad call can reach."""


def problem_rows(names):
    """One row of BREAKDOWN_HEADER per field problem, from fresh processes."""
    import run as field  # benchmarks/run.py: its latency children

    config = dict(field.SETTINGS["full"])
    with tempfile.TemporaryDirectory(prefix="symgrad_first_calls_") as work:
        field.prepare(work)
        cold = field.latency({"symgrad": names, "jax": names, "numba": names}, config, "cold", work)
        warm = field.latency({"symgrad": names, "numba": names}, config, "warm", work)
    rows = []
    for name in names:
        def total(reports, system):
            report = reports.get(system, {}).get("problems", {}).get(name, {})
            return report["first_call_s"] + report["import_s"] if report.get("status") == "ok" else None, report

        ours, report = total(cold, "symgrad")
        jax, _ = total(cold, "jax")
        numba, _ = total(cold, "numba")
        warm_ours, _ = total(warm, "symgrad")
        bare, _ = total(warm, "numba")
        times = report.get("stages", {})
        imports = report.get("import_s", 0.0) + sum(v for k, v in times.items() if k.startswith("import "))
        derivation = sum(v for k, v in times.items() if k.split(".")[0] in stages.DERIVATION)
        compiled = sum(v for k, v in times.items() if k.startswith("jit.compile_kernel"))
        rest = None if ours is None else ours - imports - derivation - compiled
        rows.append([field.problems.PROBLEMS[name].label, ours, imports, derivation, compiled, rest, jax, numba,
                     None if None in (ours, jax) else ours / jax, warm_ours, bare,
                     None if None in (warm_ours, bare) else warm_ours - bare])
    return rows


def _cell(value, column):
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return f"{value:.2f}x" if column == "cold / JAX" else f"{value * 1e3:.0f} ms"


def problems_main(names, write_docs):
    rows = [[_cell(v, c) for v, c in zip(row, BREAKDOWN_HEADER)] for row in problem_rows(names)]
    widths = [max(len(str(r[k])) for r in rows + [BREAKDOWN_HEADER]) for k in range(len(BREAKDOWN_HEADER))]
    for row in [BREAKDOWN_HEADER] + rows:
        print("  ".join(str(c).rjust(w) if k else str(c).ljust(w) for k, (c, w) in enumerate(zip(row, widths))))
    if write_docs:
        import platform

        machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        lines = ["# Where the first call goes", "", f"Measured {time.strftime('%Y-%m-%d')} on {machine}, load "
                 f"average {os.getloadavg()[0]:.2f} at the end. Written by `python benchmarks/first_call.py "
                 f"--problems all --write-docs`.", "", "| " + " | ".join(BREAKDOWN_HEADER) + " |",
                 "| --- |" + " ---: |" * (len(BREAKDOWN_HEADER) - 1)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines += ["", BREAKDOWN_NOTE, "", FLOOR_NOTE, ""]
        path = os.path.join(os.path.dirname(HERE), "docs", "first-call.md")
        with open(path, "w") as handle:
            handle.write("\n".join(lines))
        print(f"wrote {path}")


FLOOR_NOTE = """\
**What a cold call cannot avoid.** A cold call imports SymPy (to derive) and Numba (to compile), derives, and
compiles the kernel it calls with Numba. The hand-written `@njit` gradient pays Numba's import and the compile of a
smaller kernel, with no SymPy and no derivation: the difference between the two cold columns is what symgrad adds,
mostly the import of SymPy (about 0.3-0.5 s) and the larger kernel's compile (the MLP's value-and-gradient kernel
is the largest). A warm call reads the derivation and the compiled kernel from the cache and imports neither SymPy
nor the stages."""


CHILDREN = {"child": child, "bare-child": bare_child}

if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] in CHILDREN:  # one of the fresh processes main() starts
        CHILDREN[sys.argv[1]](sys.argv[2])
    else:
        import argparse

        parser = argparse.ArgumentParser(description="Where the first call goes, in fresh processes.")
        parser.add_argument("--problems", metavar="all|A,B", help="the field benchmark's problems instead of the "
                            "README's rosen: symgrad's cold and warm first call split by stage, beside JAX and Numba")
        parser.add_argument("--write-docs", action="store_true", help="with --problems: rewrite docs/first-call.md")
        options = parser.parse_args()
        if options.problems:
            import run as field  # benchmarks/run.py

            problems_main(field.select(None if options.problems == "all" else options.problems,
                                       field.problems.PROBLEMS, "problems"), options.write_docs)
        else:
            main()
