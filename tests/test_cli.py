"""The `symgrad` command line: `show` and `check`, their help, and one-line errors with exit statuses.

Most tests call `symgrad.cli.main` in-process (fast); one runs the installed console script (or `python -m
symgrad` where the script is not installed) in a fresh process, as a user would.
"""

import os
import pathlib
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from symgrad.api import Transform
from symgrad.cli import main

ROOT = pathlib.Path(__file__).resolve().parent.parent

MODEL = '''
import math
import random
import symgrad as sg


@sg.value_and_grad(wrt=("x", "y"))
def rosen(x, y):
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def plain(x, y):
    return x * math.sin(y)


def weighted(x, n, scale=2.0):
    s = 0.0
    for i in range(n):
        s += scale * x[i] ** 2
    return s


def quadratic_form(A, v):
    s = 0.0
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            s += A[i, j] * v[i] * v[j]
    return s


def uses_while(x):
    y = x
    while y > 1.0:
        y = y / 2
    return y


def noisy(x):
    return x * random.random()


def log_of(x):
    return math.log(x)


def pendulum(theta0, omega0, dt, g, n):
    theta, omega = theta0, omega0
    for _ in range(n):
        omega = omega - dt * g * math.sin(theta)
        theta = theta + dt * omega
    return theta
'''


@pytest.fixture
def model(tmp_path, monkeypatch):
    """A model file in a fresh directory, which is also the working directory (so paths print relative)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SYMGRAD_QUIET", "1")
    path = tmp_path / "model.py"
    path.write_text(textwrap.dedent(MODEL))
    return path


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def largest_error(out):
    return float(re.search(r"largest error ([0-9.e+-]+|nan)", out).group(1))


def column(out, label):
    """The numbers of one row of check's table: symgrad, finite differences, abs error, their error estimate."""
    row = next(line for line in out.splitlines() if line.startswith(f"│ {label} "))
    return [float(cell) for cell in row.split("│")[2:-1]]


# --- show ---------------------------------------------------------------------------------------------------------
def test_show_latex_text_markdown_and_source(model, capsys):
    status, out, err = run(capsys, "show", "model.py:rosen", "--latex")
    assert status == 0 and err == ""
    assert out.startswith("\\begin{aligned}") and r"\frac{\partial \operatorname{rosen}}{\partial y}" in out
    status, out, _ = run(capsys, "show", "model.py:rosen", "--text")
    assert status == 0 and out.splitlines()[1].startswith("drosen/dx = ")
    status, out, _ = run(capsys, "show", "model.py:rosen", "--markdown")
    assert status == 0 and out.startswith("```python\n@sg.value_and_grad") and "$$\n\\begin{aligned}" in out
    status, out, _ = run(capsys, "show", "model.py:rosen", "--source")
    assert status == 0 and "def value_and_grad(" in out


def test_show_pretty_is_the_default(model, capsys):
    status, out, _ = run(capsys, "show", "model.py:rosen")
    assert status == 0
    assert "rosen(x, y)" in out and "model.py:7" in out  # the header names the file and line
    assert "def rosen(x, y):" in out  # the source
    assert "∂rosen" in out and "──────" in out  # the pretty-printed partials
    status, out, _ = run(capsys, "show", "model.py:rosen", "--ascii")
    assert status == 0 and "drosen" in out and "∂" not in out


def test_show_wraps_a_plain_function_for_every_float_argument(model, capsys):
    status, out, _ = run(capsys, "show", "model.py:plain", "--text")
    assert status == 0 and "dplain/dx = sin(y)" in out and "dplain/dy = x*cos(y)" in out
    # n is used as an int (a loop bound), so the default differentiates x and scale only
    status, out, _ = run(capsys, "show", "model.py:weighted", "--text")
    assert status == 0 and "dweighted/dx" in out and "dweighted/dscale" in out and "dweighted/dn" not in out
    status, out, _ = run(capsys, "show", "model.py:plain", "--wrt", "y", "--text")
    assert status == 0 and "dplain/dy" in out and "dplain/dx" not in out


# --- check --------------------------------------------------------------------------------------------------------
def test_check_scalar_arguments(model, capsys):
    status, out, err = run(capsys, "check", "model.py:rosen", "--at", "x=1.5,y=2")
    assert status == 0, err
    # the hand-derived gradient at (1.5, 2): 2 (x - 1) - 400 x (y - x^2) = 151, 200 (y - x^2) = -50
    assert column(out, "x")[0] == 151.0 and column(out, "y")[0] == -50.0
    assert abs(column(out, "x")[1] - 151.0) < 1e-5  # the finite-difference column
    assert largest_error(out) < 1e-6 and "OK" in out
    assert "value 6.5 (the Python function gives 6.5)" in out


def test_check_arrays_from_literals_and_files(model, capsys, tmp_path):
    status, out, err = run(capsys, "check", "model.py:weighted", "--at", "x=[1, 2, 3],n=2")
    assert status == 0, err
    # d/dx[i] = 2 scale x[i] for i < n, else 0; d/dscale = sum of x[i]^2 for i < n = 5
    assert column(out, "scale")[0] == 5.0 and largest_error(out) < 1e-6
    np.save(tmp_path / "x.npy", np.array([1.0, 2.0, 3.0]))
    status, out, err = run(capsys, "check", "model.py:weighted", "--at", "x=@x.npy", "--at", "n=3,scale=0.5")
    assert status == 0, err
    assert column(out, "scale")[0] == 14.0 and largest_error(out) < 1e-6
    np.savetxt(tmp_path / "A.txt", np.arange(1.0, 7.0).reshape(2, 3))
    status, out, err = run(capsys, "check", "model.py:quadratic_form", "--at", "A=@A.txt,v=[1, 2, 3]",
                           "--against", "kernel")
    assert status == 0, err
    assert "A[" in out and "(worst of 6)" in out and largest_error(out) < 1e-6


PENDULUM = "theta0=1,omega0=0,dt=0.001,g=9.81,n=10000"  # 10^4 Euler steps: d/d dt is 26388.8, and a step of
# 1e-6 in dt (the old fixed step) is off by 3.9 in it, because theta oscillates over about 3e-5 in dt


def pendulum_dt_by_mpmath():
    """d theta / d dt of the pendulum at PENDULUM, by mpmath at 40 digits: an independent reference."""
    import mpmath

    def theta(dt):
        theta, omega = mpmath.mpf(1), mpmath.mpf(0)
        for _ in range(10_000):
            omega = omega - dt * mpmath.mpf("9.81") * mpmath.sin(theta)
            theta = theta + dt * omega
        return theta

    with mpmath.workdps(40):
        return float(mpmath.diff(theta, mpmath.mpf("0.001")))


def test_check_extrapolates_where_a_fixed_step_fails(model, capsys):
    status, out, err = run(capsys, "check", "model.py:pendulum", "--at", PENDULUM)
    assert status == 0 and "OK" in out, out + err
    exact = pendulum_dt_by_mpmath()
    symgrad_dt, differences_dt, _, their_error = column(out, "dt")
    assert abs(symgrad_dt - exact) <= 1e-10 * abs(exact)
    assert abs(differences_dt - exact) <= their_error <= 1e-9 * abs(exact)  # the estimate is honest, and small


def with_wrong_kernel(monkeypatch, argument, factor):
    """Make every compiled gradient of `argument` `factor` times too large, as a broken rule would."""
    original = Transform.value_and_grad

    def wrong(self, *args):
        value, gradient = original(self, *args)
        position = self.wrt.index(argument)
        return value, tuple(g * factor if k == position else g for k, g in enumerate(gradient))

    monkeypatch.setattr(Transform, "value_and_grad", wrong)


@pytest.mark.parametrize("target, at, argument, factor", [
    ("model.py:rosen", "x=1.5,y=2", "y", -1.0),  # a sign error
    ("model.py:pendulum", PENDULUM, "dt", 1 + 1e-6),  # off by 0.03 where differences are hardest
])
def test_check_fails_for_a_wrong_gradient(model, capsys, monkeypatch, target, at, argument, factor):
    with_wrong_kernel(monkeypatch, argument, factor)
    status, out, _ = run(capsys, "check", target, "--at", at, "--tol", "1e-8")
    assert status == 1 and "FAILED" in out and "inconclusive" not in out


def test_check_is_inconclusive_when_the_differences_cannot_tell(model, capsys):
    """Asked for 1e-14, the differences (good to about 1e-12 here) cannot confirm a correct gradient: the check
    says so, and names their error estimate, instead of blaming the kernel."""
    status, out, _ = run(capsys, "check", "model.py:pendulum", "--at", PENDULUM, "--tol", "1e-14")
    estimate = column(out, "dt")[3]
    assert status == 4 and "FAILED" not in out
    assert f"inconclusive: the difference quotient's own error estimate is {estimate:.1e}" in out


# --- mistakes: one line on stderr, a non-zero exit status ---------------------------------------------------------
@pytest.mark.parametrize("argv, status, message", [
    (["show", "model.py:uses_while"], 1, r"^symgrad: error: model\.py:\d+:5: UnsupportedStatementError: .*`while`"),
    (["check", "model.py:noisy", "--at", "x=1"], 1, r"^symgrad: error: model\.py:\d+:16: UnsupportedCallError: "),
    (["show", "missing.py:f"], 2, r"missing\.py: no such file"),
    (["show", "model.py:nothing"], 2, r"model\.py has no function 'nothing' \(functions in it: rosen, plain, "),
    (["show", "model.py"], 2, r"name the function after a colon, as in model\.py:rosen"),
    (["show", "model.py:math"], 2, r"model\.py:math is a module, not a Python function"),
    (["show", "model.py:weighted", "--wrt", "n", "--text"], 1, r"NonDifferentiableArgumentError: .*'n'.*integer"),
    (["show", "model.py:plain", "--wrt", "z"], 1, r"wrt='z': plain\(\) has no such argument"),
    (["check", "model.py:rosen", "--at", "x=1.5"], 2, r"no value for y: give every argument"),
    (["check", "model.py:rosen", "--at", "x=1.5,y=2,z=3"], 2, r"rosen\(\) has no argument 'z'"),
    (["check", "model.py:rosen", "--at", "x=abc,y=2"], 2, r"--at x=abc: not a number"),
    (["check", "model.py:rosen", "--at", "x=@nowhere.npy,y=2"], 2, r"cannot read nowhere\.npy"),
    (["check", "model.py:weighted", "--at", "x=[1, 2],n=3"], 1, r"ArrayIndexError: weighted\(\): line \d+ indexes argument 'x'"),
    (["check", "model.py:log_of", "--at", "x=-1"], 1, r"log_of\(\) raised ValueError: math domain error"),
])
def test_mistakes_are_one_line_errors(model, capsys, argv, status, message):
    got, out, err = run(capsys, *argv)
    assert got == status
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err + out
    assert re.search(message, err.strip()), err


@pytest.mark.parametrize("argv, message", [
    (["--step", "0"], r"argument --step: must be a finite number above 0, got '0'"),
    (["--step=-0.1"], r"argument --step: must be a finite number above 0, got '-0\.1'"),
    (["--step", "nan"], r"argument --step: must be a finite number above 0, got 'nan'"),
    (["--step", "inf"], r"argument --step: must be a finite number above 0, got 'inf'"),
    (["--step", "abc"], r"argument --step: not a number: 'abc'"),
    (["--tol=-1e-5"], r"argument --tol: must be a finite number, 0 or above, got '-1e-5'"),
    (["--tol", "nan"], r"argument --tol: must be a finite number, 0 or above, got 'nan'"),
    (["--tol", "x"], r"argument --tol: not a number: 'x'"),
])
def test_bad_step_and_tolerance_are_usage_errors(model, capsys, argv, message):
    # (--step 0 raised ZeroDivisionError as an internal error; a negative or nan step or tolerance was used)
    with pytest.raises(SystemExit) as exited:
        main(["check", "model.py:rosen", "--at", "x=1.5,y=2", *argv])
    out, err = capsys.readouterr()
    assert exited.value.code == 2 and "Traceback" not in out + err
    assert err.startswith("usage: symgrad check")
    assert re.fullmatch("symgrad check: error: " + message, err.strip().splitlines()[-1]), err


@pytest.mark.parametrize("at, message", [
    ("x=[]", r"--at x=\[\]: the list is empty: give at least one number"),
    ("x=[True, 1.0]", r"--at x=\[True, 1.0\]: a list must hold real numbers \(not True, False or complex\)"),
    ("x=[1j, 2]", r"a list must hold real numbers"),
    ("x=[1e999, 1]", r"--at x=\[1e999, 1\]: the point must be finite \(no inf or nan\)"),
    ("x=nan", r"--at x=nan: the point must be finite"),
    ("x=[1, 2],x=[3, 4]", r"--at 'x=\[3, 4\]': x is given twice"),
    ("x=[1, 2]]", r"--at x=\[1, 2\]\].*: not a number"),
    ("x=[[1], [2, 3]]", r"a list must hold numbers in rows of equal length"),
    ("x", r"--at 'x': write NAME=VALUE"),
])
def test_malformed_points_are_one_line_usage_errors(model, capsys, at, message):
    # (x=[] gave "ValueError: attempt to get argmax of an empty sequence" with status 1, [True] and a repeated
    # name were taken, inf was differenced)
    status, out, err = run(capsys, "check", "model.py:weighted", "--at", at + ",n=2")
    assert status == 2 and "Traceback" not in out + err
    assert len(err.strip().splitlines()) == 1 and re.search(message, err), err


def test_a_file_of_non_finite_or_no_numbers_is_a_usage_error(model, capsys):
    np.save(model.with_name("empty.npy"), np.zeros(0))
    np.save(model.with_name("inf.npy"), np.array([1.0, np.inf]))
    for name, message in [("empty.npy", "holds no numbers"), ("inf.npy", "the point must be finite")]:
        status, out, err = run(capsys, "check", "model.py:weighted", "--at", f"x=@{name},n=2")
        assert status == 2 and len(err.strip().splitlines()) == 1 and message in err, err


def test_errors_while_importing_the_file_name_its_line(model, capsys):
    model.with_name("broken.py").write_text("import math\n\nraise RuntimeError('no data here')\n")
    model.with_name("syntax.py").write_text("def f(x):\n    return x +\n")
    status, _, err = run(capsys, "show", "broken.py:f")
    assert status == 1
    assert err.strip() == "symgrad: error: broken.py:3: importing the file raised RuntimeError: no data here"
    status, _, err = run(capsys, "show", "syntax.py:f")
    assert status == 1 and re.match(r"symgrad: error: syntax\.py:2:\d+: syntax error: ", err)


@pytest.mark.parametrize("command", [[], ["show"], ["check"]])
def test_help(capsys, command):
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: symgrad {' '.join(command)}".rstrip())
    assert {(): "check", ("show",): "--latex", ("check",): "--at"}[tuple(command)] in out


def test_no_command_prints_help(capsys):
    assert main([]) == 2 and "usage: symgrad" in capsys.readouterr().out


def test_show_and_check_ignore_decoys_beside_the_file_and_derive_only_the_target(tmp_path):
    """A `sympy.py` or `numpy.py` beside the user's file is theirs, not symgrad's: the command imports its own
    dependencies first and puts the file's directory last on sys.path.  It derives the function asked for and no
    other (the quickstart used to derive its neuron at import)."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "quickstart.py").write_text((ROOT / "examples" / "quickstart.py").read_text())
    for decoy in ("sympy", "numpy"):
        (project / f"{decoy}.py").write_text(f"raise ImportError('the {decoy}.py beside the file was imported')\n")
    cache = tmp_path / "cache"
    environment = dict(os.environ, SYMGRAD_QUIET="1", NO_COLOR="1", SYMGRAD_CACHE_DIR=str(cache))
    command = [sys.executable, "-m", "symgrad"]  # run from tmp_path: the decoys are not in the working directory
    shown = subprocess.run([*command, "show", "project/quickstart.py:rosen", "--text"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=300, env=environment)
    assert shown.returncode == 0, shown.stderr
    assert "drosen/dy = 200*(-x**2 + y)" in shown.stdout  # d/dy (1 - x)^2 + 100 (y - x^2)^2, by hand
    entries = {p.name.split(".")[0] for p in cache.rglob("symgrad_*")}  # a module, or formulas only (.display.json)
    assert len(entries) == 1, sorted(p.name for p in cache.rglob("*"))
    checked = subprocess.run([*command, "check", "project/quickstart.py:rosen", "--at", "x=1.5,y=2"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=300, env=environment)
    assert checked.returncode == 0, checked.stderr
    assert column(checked.stdout, "x")[0] == 151.0  # 2 (x - 1) - 400 x (y - x^2) at (1.5, 2)


# --- the installed command, on the examples -----------------------------------------------------------------------
def symgrad_command():
    """The console script installed beside this interpreter, else `python -m symgrad`."""
    script = pathlib.Path(sys.executable).parent / ("symgrad.exe" if os.name == "nt" else "symgrad")
    return [str(script)] if script.exists() else [sys.executable, "-m", "symgrad"]


def test_console_script_on_an_example():
    environment = dict(os.environ, SYMGRAD_QUIET="1", NO_COLOR="1")
    shown = subprocess.run([*symgrad_command(), "show", "examples/basics.py:loss", "--latex"], cwd=ROOT,
                           capture_output=True, text=True, timeout=300, env=environment)
    assert shown.returncode == 0, shown.stderr
    assert r"\frac{\partial \operatorname{loss}}{\partial x} &= 2 \left(w - 1\right)" in shown.stdout
    checked = subprocess.run([*symgrad_command(), "check", "examples/basics.py:loss", "--at", "x=2,w=3,b=4"],
                             cwd=ROOT, capture_output=True, text=True, timeout=300, env=environment)
    assert checked.returncode == 0, checked.stderr
    # the hand-derived gradient at x=2, w=3, b=4: 2 (f - x) (w - 1) = 32, 2 (f - x) x = 32, 2 (f - x) = 16
    assert [column(checked.stdout, name)[0] for name in ("x", "w", "b")] == [32.0, 32.0, 16.0]
    assert largest_error(checked.stdout) < 1e-6
