"""The differential fuzzing campaign: ``python -m benchmarks.fuzz --programs 10000 [--seed S] [--jobs J] [--out DIR]``
(``--numpy``: vectorised NumPy programs instead of loop programs).

Generates programs from consecutive seeds, judges each in a worker process (see `oracle` for the references and
`pool` for crash isolation), prints the count of every outcome and the time taken, and saves each failing program
to the output directory as a script that reproduces it, minimised for the first few of each outcome.
"""

import argparse
import collections
import json
import os
import pathlib
import pprint
import shutil
import sys
import time

from benchmarks.fuzz.generator import generate
from benchmarks.fuzz.numpy_programs import generate_numpy
from benchmarks.fuzz.minimize import minimize
from benchmarks.fuzz.oracle import ACCEPTED, FAILURES, OUTCOMES, supported_options
from benchmarks.fuzz.pool import Worker, judge_all

REPRODUCER = '''

# --- what the fuzzer saw (seed {seed}) ---------------------------------------------------------------------------
# outcome: {outcome}
{detail}
ARGS = {args}
WRT = {wrt}

if __name__ == "__main__":
    import numpy as np

    import symgrad as sg

    values = [np.array(v, dtype=np.float64) if isinstance(v, list) else v for v in ARGS.values()]
    try:
        print("Python :", f(*values))
    except Exception as error:
        print("Python : raises", repr(error))
    print("symgrad:", sg.value_and_grad(f, wrt=WRT)(*values))
'''


def reproducer(program, verdict):
    """The program as a runnable script, with its arguments and the verdict as comments."""
    detail = "\n".join("# " + line for line in (verdict["detail"] or "").splitlines()[:20])
    return program["source"] + REPRODUCER.format(
        seed=program["seed"], outcome=verdict["outcome"], detail=detail,
        args=pprint.pformat(program["args"], sort_dicts=False), wrt=tuple(program["wrt"]))


def slug(outcome):
    return outcome.replace(" ", "_").replace("/", "_")


class Campaign:
    """Counts, notes, failures and timing of one run."""

    def __init__(self, total, out):
        self.total = total
        self.out = out
        self.counts = collections.Counter()
        self.notes = collections.Counter()
        self.failures = []
        self.started = time.perf_counter()

    def record(self, program, verdict):
        self.counts[verdict["outcome"]] += 1
        self.notes.update(verdict.get("notes", []))
        if verdict["outcome"] in FAILURES:
            self.failures.append((program, verdict))
            if self.out:
                path = self.out / f"{program['seed']:06d}_{slug(verdict['outcome'])}.py"
                path.write_text(reproducer(program, verdict))
        done = sum(self.counts.values())
        if done % 10 == 0 or done == self.total:
            elapsed = time.perf_counter() - self.started
            print(f"[{done}/{self.total}] {elapsed:.0f} s  " + ", ".join(
                f"{o}: {n}" for o, n in sorted(self.counts.items())), file=sys.stderr, flush=True)

    def minimise(self, per_outcome, tries):
        """Shrink the first `per_outcome` failures of each outcome; save them beside the originals."""
        chosen = collections.defaultdict(list)
        for program, verdict in sorted(self.failures, key=lambda item: len(item[0]["source"])):
            if len(chosen[verdict["outcome"]]) < per_outcome and verdict["outcome"] != "timeout":
                chosen[verdict["outcome"]].append((program, verdict))
        worker = Worker(self.out / "cache")
        try:
            for program, verdict in (item for group in chosen.values() for item in group):
                smaller, spent = minimize(program, verdict, lambda p: worker.judge(p, 120), tries)
                final = worker.judge(smaller, 120)
                path = self.out / f"{program['seed']:06d}_{slug(verdict['outcome'])}.min.py"
                path.write_text(reproducer(smaller, final))
                print(f"minimised seed {program['seed']} ({verdict['outcome']}) in {spent} tries: {path}",
                      file=sys.stderr, flush=True)
        finally:
            worker.stop()
            shutil.rmtree(self.out / "cache", ignore_errors=True)

    def summary(self):
        elapsed = time.perf_counter() - self.started
        lines = [f"{sum(self.counts.values())} programs in {elapsed:.0f} s"]
        options = supported_options()
        for option, check in (("method", "forward/reverse"), ("optimize", "optimised/unoptimised")):
            if option not in options:
                lines.append(f"  ({check} check skipped: this symgrad has no {option}= option)")
        lines += [f"  {outcome:32s} {self.counts.get(outcome, 0)}" for outcome in OUTCOMES]
        if self.notes:
            lines.append("notes:")
            lines += [f"  {note}: {count}" for note, count in self.notes.most_common()]
        failing = sum(self.counts[o] for o in FAILURES)
        lines.append(f"failures: {failing}" + (f" (saved in {self.out})" if self.out and failing else ""))
        return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=200, help="how many programs (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="the first seed; program k has seed S + k")
    parser.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 2) - 1), help="worker processes")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("fuzz-out"),
                        help="directory for failing programs (default fuzz-out)")
    parser.add_argument("--timeout", type=float, default=180, help="seconds per program before 'timeout'")
    parser.add_argument("--minimize", type=int, default=2, metavar="K",
                        help="minimise the first K failures of each outcome (0: none)")
    parser.add_argument("--tries", type=int, default=60, help="the minimiser's budget of tries per program")
    parser.add_argument("--seconds", type=float, help="start no new program after this many seconds")
    parser.add_argument("--json", type=pathlib.Path, help="also write every verdict to this file")
    parser.add_argument("--interpret", action="store_true",
                        help="run the kernels as Python (NUMBA_DISABLE_JIT=1): no compile, about 10x more programs an "
                             "hour; an access outside an array then shows as NumPy's IndexError instead of a crash")
    parser.add_argument("--parallel", action="store_true",
                        help="also compare the kernels of parallel=True, every loop in chunks, with the serial ones")
    parser.add_argument("--hessian", action="store_true",
                        help="also compare each program's Hessian by colours of its pattern with the one by unit "
                             "vectors")
    parser.add_argument("--numpy", action="store_true",
                        help="vectorised NumPy programs (benchmarks/fuzz/numpy_programs.py) instead of loop programs")
    parser.add_argument("--blocks", help="loop programs made only of these generator blocks, comma-separated "
                                          "(block_layer_rows,block_assign: a network's rows, pass skip_zero_rows)")
    options = parser.parse_args(argv)
    if options.interpret:
        os.environ["NUMBA_DISABLE_JIT"] = "1"  # the workers inherit it
    if options.parallel:
        os.environ["SYMGRAD_FUZZ_PARALLEL"] = "1"
    if options.hessian:
        os.environ["SYMGRAD_FUZZ_HESSIAN"] = "1"

    options.out.mkdir(parents=True, exist_ok=True)
    blocks = tuple(options.blocks.split(",")) if options.blocks else None
    writer = generate_numpy if options.numpy else lambda seed: generate(seed, blocks)
    programs = [writer(seed).as_json() for seed in range(options.seed, options.seed + options.programs)]
    campaign = Campaign(len(programs), options.out)
    verdicts = []

    def on_verdict(program, verdict):
        verdicts.append({"seed": program["seed"], **verdict})
        campaign.record(program, verdict)

    judge_all(programs, options.jobs, options.timeout, on_verdict, options.seconds)
    if options.json:
        options.json.write_text(json.dumps(sorted(verdicts, key=lambda v: v["seed"]), indent=1))
    print(campaign.summary(), flush=True)
    if options.minimize and campaign.failures:
        campaign.minimise(options.minimize, options.tries)
    accepted_only = all(outcome in ACCEPTED for outcome in campaign.counts)
    return 0 if accepted_only else 1


if __name__ == "__main__":
    sys.exit(main())
