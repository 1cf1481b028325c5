"""How much of the corpus of vectorised objectives (tests/corpus) symgrad takes as written, and how fast.

    python -m benchmarks.corpus                    # per function: taken or refused (first line), gradient error
    python -m benchmarks.corpus --speed            # also per-call time at n = 10, 1000, 100000 where sized
    python -m benchmarks.corpus --speed --parallel # and symgrad's parallel=True kernels beside the serial ones
    python -m benchmarks.corpus --speed --names pyswarms.ackley,autograd.tanh --sizes 10,1000
    python -m benchmarks.corpus --origins          # where each function comes from, its licence and adaptation
    python -m benchmarks.corpus --derivation       # only each function's derivation time at the smallest and
                                                   # largest size (lift, reverse mode, codegen; no Numba compile)

Errors are the max relative error of value and gradient (`bench_arrays.relative_error`) against JAX running the
same source where it can, else against Richardson-extrapolated central differences; "refs" is the gap between those
two references themselves, a check of the corpus.  The hand loop version (symgrad on the loop form) is checked the
same way.  With --speed, every time is a median of interleaved batches (`timing.call_times`) and every ratio is
taken against JAX's jitted value_and_grad of the same source, measured in the same rounds.
"""

import argparse
import ast
import collections
import functools
import inspect
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(os.path.dirname(HERE), "tests")
for path in (HERE, TESTS):  # tests/ first: `corpus` is the package there, not this module
    if path in sys.path:
        sys.path.remove(path)
sys.path[:0] = [TESTS, HERE]

import corpus  # noqa: E402
import symgrad as sg  # noqa: E402
from bench_arrays import relative_error  # noqa: E402
from corpus import reference  # noqa: E402
from corpus.attempt import attempt  # noqa: E402
from corpus.spec import SPEED_SIZES  # noqa: E402
from report import _text_table, ratio, seconds  # noqa: E402
from timing import call_times, log, median, paired_rounds  # noqa: E402

REFS_FLAG = 1e-6  # the references' own gap: Richardson's error on components that cancel to ~0 reaches 1e-7
LOCATION = re.compile(r"\s*\([^()]*:\d+:\d+\)\s*$")  # "(file:line:column)" at the end of a refusal


@functools.lru_cache(maxsize=None)
def _definitions(module_name):
    """The module's top-level function definitions by name, and its import aliases -> imported module name."""
    tree = ast.parse(inspect.getsource(sys.modules[module_name]))
    aliases = {}
    for node in tree.body:
        if isinstance(node, ast.Import):
            aliases.update({alias.asname or alias.name: alias.name for alias in node.names})
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            aliases.update({alias.asname or alias.name: f"{node.module}.{alias.name}" for alias in node.names})
    return {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}, aliases


def _construct(node, aliases, names):
    """The NumPy construct a node is, in words (None for plain scalar Python)."""
    if isinstance(node, ast.Subscript) and any(isinstance(n, ast.Slice) for n in ast.walk(node.slice)):
        return "slices"
    stored = isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store)
    if stored and isinstance(node.slice, (ast.Name, ast.UnaryOp)):  # out[idx] = ..., out[~idx] = ...
        return "stores through a mask or index array"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
        return "@"
    if isinstance(node, ast.keyword) and node.arg in ("axis", "keepdims"):
        return f"{node.arg}="
    if isinstance(node, (ast.List, ast.ListComp)):
        return "lists"
    if isinstance(node, ast.For) and not (isinstance(node.iter, ast.Call)
                                          and getattr(node.iter.func, "id", "") == "range"):
        return "for over a list or zip"
    if isinstance(node, ast.Attribute):
        if isinstance(node.value, ast.Name) and node.value.id in aliases:
            module = aliases[node.value.id]
            return f"{'np' if module == 'numpy' else module}.{node.attr}"
        if node.attr not in ("shape", "size"):
            return f"attribute or method .{node.attr}"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in aliases:
        return aliases[node.func.id]  # a function imported by name (scipy.special.logsumexp)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in names:
        return "helper functions"
    return None


def constructs(entry):
    """Every NumPy construct the entry's source uses, in its own body and the module's functions it calls."""
    definitions, aliases = _definitions(entry.function.__module__)
    found, pending, seen = set(), [entry.function.__name__], set()
    while pending:
        name = pending.pop()
        seen.add(name)
        for node in ast.walk(definitions[name]):
            construct = _construct(node, aliases, definitions)
            if construct and not construct.endswith(".pi"):
                found.add(construct)
            if isinstance(node, ast.Name) and node.id in definitions and node.id not in seen:
                pending.append(node.id)
    return found


def print_constructs(rows):
    """What the corpus uses beyond the loop subset: each construct and the functions refused that use it."""
    uses = collections.defaultdict(list)
    for row in rows:
        for construct in constructs(row["entry"]):
            uses[construct].append(row)
    print("\nconstructs used (functions using it: refused / all):")
    for construct, using in sorted(uses.items(), key=lambda item: (-len(item[1]), item[0])):
        refused = sum(not row["written"].taken for row in using)
        print(f"  {refused:3d} / {len(using):<3d} {construct}")


def references(entry, args):
    """(reference result, name, gap between JAX and Richardson or None) at `args`."""
    value = float(entry.function(*args))
    differences = (value, reference.richardson(entry, args))
    if entry.jax is not True:
        return differences, "differences", None
    jax_result = reference.jax_value_and_grad(entry, args)
    return jax_result, "JAX", relative_error(differences, jax_result)


def check(entry):
    """One entry at the test size: symgrad as written and on the loop version, each against the references."""
    args = entry.args()
    expected, against, gap = references(entry, args)
    row = {"entry": entry, "against": against, "refs": gap}
    for form in ("written", "loop") if entry.loop else ("written",):
        result = attempt(entry, args, loop=form == "loop")
        row[form] = result
        if result.taken:
            row[form + "_error"] = relative_error((result.value, result.gradients), expected)
    return row


def error_cell(value, flag=1e-8):
    return "-" if value is None else f"{value:.0e}" + (" !" if value > flag else "")


def refusal_reason(result):
    """The first line of a refusal without its file position, so that the same reason counts once."""
    return LOCATION.sub("", result.first_line())


def print_checks(rows):
    table = []
    for row in rows:
        written = row["written"]
        loop = row.get("loop")
        table.append([row["entry"].name, "taken" if written.taken else "refused",
                      error_cell(row.get("written_error")), seconds(written.seconds if written.taken else None),
                      row["against"], error_cell(row["refs"], REFS_FLAG),
                      "-" if loop is None else "taken" if loop.taken else "refused", error_cell(row.get("loop_error")),
                      seconds(loop.seconds if loop is not None and loop.taken else None)])
    header = ["function", "as written", "error", "first call", "against", "refs", "loop", "loop error", "first call"]
    print("\n".join(_text_table("symgrad on the corpus (tests/corpus), at the test size", header, table,
                                "error: max relative error of value and gradient; first call: derive, compile and "
                                "run; refs: JAX against the differences (a check of the corpus itself); ! above 1e-8 "
                                "(refs: above 1e-6)")))
    print("\nrefused as written (first line of each message):")
    for row in rows:
        if not row["written"].taken:
            print(f"  {row['entry'].name}: {refusal_reason(row['written'])}")
    reasons = collections.Counter(refusal_reason(row["written"]) for row in rows if not row["written"].taken)
    print("\nrefusals by reason:")
    for reason, count in reasons.most_common():
        print(f"  {count:3d}  {reason}")
    taken = sum(row["written"].taken for row in rows)
    loops = [row["loop"] for row in rows if "loop" in row]
    print(f"\ntaken as written: {taken} of {len(rows)} ({100 * taken / len(rows):.0f}%); "
          f"loop versions taken: {sum(r.taken for r in loops)} of {len(loops)}")
    projects = collections.Counter(row["entry"].origin.project for row in rows)
    print("projects: " + ", ".join(f"{project} ({count}, {corpus_licence(project)})"
                                   for project, count in sorted(projects.items())))


def print_origins(entries):
    for origin in corpus.ORIGINS:
        print(f"{origin.project}: https://github.com/{origin.repository}, {origin.licence}, {origin.copyright}")
    for entry in entries:
        print(f"  {entry.name}: {entry.url}\n      adaptation: {entry.adaptation}")


def corpus_licence(project):
    return next(origin.licence for origin in corpus.ORIGINS if origin.project == project)


def speed(rows, sizes, repeat, batch_s, parallel=False):
    """Per-call time of symgrad as written, symgrad on the loop version (each also with ``parallel=True`` when
    asked) and JAX jitted, and their ratios to JAX."""
    jax = reference.jax()
    forms = [("written", "symgrad"), ("loop", "loop")]
    columns = [name for _, name in forms] + ([name + " par" for _, name in forms] if parallel else [])
    table = []
    for row in rows:
        entry = row["entry"]
        threaded = {form: attempt(entry, entry.args(), loop=form == "loop", parallel=True)
                    for form, _ in forms if parallel and row.get(form) is not None and row[form].taken}
        for n in [n for n in sizes if entry.largest is None or n <= entry.largest] if entry.sized else [None]:
            args = entry.args(n) if n else entry.args()
            calls = {}
            for form, name in forms:
                if row.get(form) is not None and row[form].taken:
                    calls[name] = (row[form].transform, args)
                if form in threaded:
                    calls[name + " par"] = (threaded[form].transform, args)
            if entry.jax is True:
                jitted = reference.jitted(entry)
                native = tuple(a if isinstance(a, int) else jax.device_put(a) for a in args)
                calls["jax"] = (lambda *a, f=jitted: jax.block_until_ready(f(*a)), native)
            if not calls:
                continue
            log(f"timing {entry.name} at n = {n or '-'}")
            try:
                samples = call_times(calls, repeat, batch_s, budget_seconds=1.0)
            except Exception as error:  # noqa: BLE001  (a failure is a row of the report, not the end of the run)
                table.append([entry.name, str(n or "-"), f"failed: {type(error).__name__}"]
                             + [""] * (2 * len(columns)))
                continue
            against = samples.get("jax")
            table.append([entry.name, str(n or "-")]
                         + [seconds(median([s for _, s in samples[name]])) if name in samples else "-"
                            for name in ["jax"] + columns]
                         + [ratio(paired_rounds(samples[name], against)) if against and name in samples else "-"
                            for name in columns])
    header = ["function", "n", "JAX jit"] + columns + [f"{name}/JAX" for name in columns]
    print("\n".join(_text_table("per-call value and gradient, from Python", header, table,
                                "symgrad: the source as written; loop: the hand loop version through symgrad; par: "
                                "with parallel=True; ratios are medians of per-round ratios to JAX in the same run")))


def derivation_times(entries, sizes):
    """Each function's derivation (lift, reverse mode and codegen, as `Transform._derive` runs them: no Numba
    compilation, no cache) with the arrays of the smallest and of the largest size deciding the ranks: the time
    must not grow with the data, which the derivation never reads.  SymPy's own cache is emptied before each, so
    that no function is timed on the expressions of another; imports are done by a first derivation, not timed."""
    from sympy.core.cache import clear_cache

    sized = (min(sizes), max(sizes))
    table, worst = [], (0.0, None)
    for entry in entries:
        cells = []
        for n in sized if entry.sized else (None,):
            n = n if entry.largest is None or n is None else min(n, entry.largest)
            args = entry.args(n) if n else entry.args()
            transform = sg.value_and_grad(entry.function, wrt=tuple(entry.wrt))
            transform._observe(args, {})
            log(f"deriving {entry.name} at n = {n or '-'}")
            if worst[1] is None:
                _derived_or_refused(transform)  # (imports SymPy and the stages: not part of any one derivation)
            clear_cache()
            start = time.perf_counter()
            refused = _derived_or_refused(transform)
            cells.append(None if refused else time.perf_counter() - start)
            if cells[-1] is not None:
                worst = max(worst, (cells[-1], entry.name), key=lambda pair: pair[0])
            worst = worst if worst[1] is not None else (0.0, "")
        cells += cells[-1:] * (2 - len(cells))
        table.append([entry.name] + (["refused"] * 2 + ["-"] if cells[0] is None else [
            seconds(cells[0]), seconds(cells[1]), f"{cells[1] / cells[0]:.2f}"]))
    header = ["function", f"derive s (n={sized[0]})", f"derive s (n={sized[1]} or largest)", "ratio"]
    print("\n".join(_text_table("derivation time of each function as written", header, table,
                                "lift + reverse mode + codegen, SymPy's cache emptied before each; Numba's "
                                "compilation is not included")))
    print(f"\nslowest derivation: {worst[1]} {worst[0]:.2f} s")


def _derived_or_refused(transform):
    """Derive; the refusal, where the function is refused."""
    try:
        transform._derive()
    except sg.UnsupportedSyntaxError as refusal:
        return refusal
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--speed", action="store_true", help="also time each function against JAX and the loop")
    parser.add_argument("--parallel", action="store_true", help="with --speed, also time parallel=True kernels")
    parser.add_argument("--origins", action="store_true", help="only list each function's origin and adaptation")
    parser.add_argument("--derivation", action="store_true",
                        help="only time each function's derivation at the smallest and the largest size")
    parser.add_argument("--names", metavar="A,B", help="only these corpus functions (default all)")
    parser.add_argument("--sizes", metavar="N,M", default=",".join(map(str, SPEED_SIZES)),
                        help="sizes for --speed (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=9, help="timing rounds (default %(default)s)")
    parser.add_argument("--batch", type=float, default=0.004, help="seconds per timed batch (default %(default)s)")
    options = parser.parse_args(argv)
    entries = corpus.ENTRIES
    if options.names:
        chosen = set(options.names.split(","))
        unknown = chosen - set(corpus.BY_NAME)
        if unknown:
            raise SystemExit(f"unknown corpus functions: {', '.join(sorted(unknown))}")
        entries = [entry for entry in entries if entry.name in chosen]
    if options.origins:
        print_origins(entries)
        return
    if options.derivation:
        derivation_times(entries, [int(n) for n in options.sizes.split(",")])
        return
    rows = []
    for entry in entries:
        log(f"checking {entry.name}")
        rows.append(check(entry))
    print_checks(rows)
    print_constructs(rows)
    if options.speed:
        speed(rows, [int(n) for n in options.sizes.split(",")], options.repeat, options.batch, options.parallel)


if __name__ == "__main__":
    main()
