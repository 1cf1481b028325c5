"""A short run of the cache stress script (python -m benchmarks.stress): processes and threads calling overlapping
functions on one cache directory while its files are corrupted; every result is checked by hand formulas."""

import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_stress_with_a_corrupter_gives_no_wrong_result_and_no_exception():
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.stress", "--processes", "2", "--threads", "2", "--seconds", "6"],
        capture_output=True, text=True, cwd=ROOT, env=environment, check=False, timeout=400)
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    totals = report["totals"]
    assert totals.get("wrong", 0) == 0 and totals.get("errors", 0) == 0, report
    assert totals["calls"] > 0 and sum(v for k, v in totals.items() if k.startswith("corrupted")) > 0, report
    assert completed.returncode == 0, completed.stderr
