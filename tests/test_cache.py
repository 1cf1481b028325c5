"""The derivation cache: a second process takes the cached path, and a changed constant gives a new derivation.

Each test uses a cache directory of its own (so it can count the files in it) and a function module of its own,
written to a real file so that the second process imports exactly the same source under the same module name.
"""

import json
import math
import os
import pathlib
import re
import shutil
import subprocess
import sys
import textwrap

import pytest
from conftest import central_difference, write_module

import symgrad as sg

FUNCTION_SOURCE = """
import math

import numpy as np

A = 2.0


def helper(t):
    return t * np.tanh(t)


def target(x, y):
    s = A * math.sin(x) * y + helper(y)
    return s * s + math.log(1.0 + x * x)
"""

CHILD = """
import json
import sys

sys.path.insert(0, {module_dir!r})

import symgrad as sg
import symgrad.api

def refuse(*args, **kwargs):
    raise AssertionError("the second process derived the function again instead of loading the cache")

symgrad.api._derive = refuse

import {module_name} as module

g = sg.grad(module.target, wrt=("x", "y"))
gradient = g(0.7, -0.4)
vg = sg.value_and_grad(module.target, wrt=("x", "y"))
value, gradient_again = vg(0.7, -0.4)
latex = g.latex()  # rendered by the first process: read from the cache, without SymPy
print(json.dumps({{
    "latex": latex,
    "gradient": list(gradient),
    "value": value,
    "gradient_again": list(gradient_again),
    "sympy_imported": "sympy" in sys.modules,
    "symgrad_modules": sorted(m for m in sys.modules if m.startswith("symgrad.")),
    "numba_cache_hits": sum(g.kernels.grad.stats.cache_hits.values()),
    "numba_cache_misses": sum(g.kernels.grad.stats.cache_misses.values()),
}}))
"""


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """A cache directory of the test's own, with no kernel module of an earlier test loaded (identical functions
    share a module, found in sys.modules before the directory is looked at)."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(directory))
    for name in [n for n in sys.modules if re.fullmatch(r"symgrad_[0-9a-f]{24}", n)]:
        monkeypatch.delitem(sys.modules, name)
    return directory


def _generated_files(directory):
    """name -> (mtime_ns, bytes) of every generated kernel module in the cache."""
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in pathlib.Path(directory).glob("symgrad_*.py")}


def _child_environment(cache_directory):
    environment = dict(os.environ)
    environment["SYMGRAD_CACHE_DIR"] = str(cache_directory)
    # the child must import the very symgrad this process tests
    package_root = str(pathlib.Path(sg.__file__).resolve().parent.parent)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, environment.get("PYTHONPATH")]))
    return environment


def test_second_process_takes_the_cached_path(private_cache, tmp_path):
    module_dir = tmp_path / "functions"
    module_dir.mkdir()
    module_name = f"symgrad_cache_target_{os.getpid()}"
    module = write_module(FUNCTION_SOURCE, name=module_name, directory=module_dir)

    g = sg.grad(module.target, wrt=("x", "y"))
    gradient = g(0.7, -0.4)
    for position, d in enumerate(gradient):
        fd = central_difference(module.target, (0.7, -0.4), position)
        assert abs(d - fd) <= 1e-6 * max(1.0, abs(fd))
    latex = g.latex()
    files_before = _generated_files(private_cache)
    assert len(files_before) == 1

    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(CHILD.format(module_dir=str(module_dir), module_name=module_name)))
    completed = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, check=False,
                               env=_child_environment(private_cache), timeout=240)
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout.strip().splitlines()[-1])

    assert report["sympy_imported"] is False, "the cached path (formulas included) imported SymPy"
    assert report["latex"] == latex
    for stage in ("symgrad.frontend", "symgrad.reverse", "symgrad.codegen", "symgrad.display", "symgrad.rules"):
        assert stage not in report["symgrad_modules"]
    assert report["gradient"] == list(gradient)
    assert report["gradient_again"] == list(gradient)
    assert report["value"] == pytest.approx(module.target(0.7, -0.4), rel=1e-13)
    assert report["numba_cache_hits"] >= 1 and report["numba_cache_misses"] == 0, \
        "Numba compiled the kernel again instead of loading its cache"
    assert _generated_files(private_cache) == files_before, "the second process wrote or rewrote a module file"


def test_changing_a_global_constant_gives_a_new_derivation(private_cache):
    module = write_module(FUNCTION_SOURCE)
    point = (0.7, -0.4)

    first = sg.grad(module.target, wrt=("x", "y"))
    gradient_a2 = first(*point)
    files_a2 = _generated_files(private_cache)
    assert len(files_a2) == 1

    module.A = 3.0
    second = sg.grad(module.target, wrt=("x", "y"))
    gradient_a3 = second(*point)
    for position, d in enumerate(gradient_a3):
        fd = central_difference(module.target, point, position)
        assert abs(d - fd) <= 1e-6 * max(1.0, abs(fd)), "the new derivation does not use A = 3.0"
    assert gradient_a3 != gradient_a2
    files_a3 = _generated_files(private_cache)
    assert len(files_a3) == 2, "a changed constant must give a module of its own"
    for name, stamp in files_a2.items():
        assert files_a3[name] == stamp, f"{name} was rewritten"

    module.A = 2.0  # back to the first constant: the first module is found again, nothing is written
    third = sg.grad(module.target, wrt=("x", "y"))
    assert third(*point) == gradient_a2
    assert _generated_files(private_cache) == files_a3


def test_changing_a_closure_constant_gives_a_new_derivation(private_cache, make_module):
    module = make_module("""
        import math

        def make(c):
            def scaled(x):
                return c * math.exp(x)
            return scaled
    """)
    two, five = module.make(2.0), module.make(5.0)
    assert sg.grad(two)(0.3) == pytest.approx(2.0 * math.exp(0.3), rel=1e-14)
    assert sg.grad(five)(0.3) == pytest.approx(5.0 * math.exp(0.3), rel=1e-14)
    assert len(_generated_files(private_cache)) == 2


def test_same_function_twice_in_one_process_reuses_the_module(private_cache):
    module = write_module(FUNCTION_SOURCE)
    first = sg.value_and_grad(module.target, wrt=(0, 1))
    result = first(0.1, 0.2)
    files = _generated_files(private_cache)
    second = sg.value_and_grad(module.target, wrt=("x", "y"))  # the same positions, spelled by name
    assert second(0.1, 0.2) == result
    assert second.source() == first.source()
    assert _generated_files(private_cache) == files


# --- a corrupt, tampered or unwritable cache -----------------------------------------------------------------
RUNNER = """
import json
import sys
import warnings

sys.path.insert(0, {module_dir!r})
warnings.simplefilter("always")

import symgrad as sg
import {module_name} as module

with warnings.catch_warnings(record=True) as seen:
    warnings.simplefilter("always")
    g = sg.grad(module.target, wrt=("x", "y"))
    gradient = g(0.7, -0.4)
    value, again = sg.value_and_grad(module.target, wrt=("x", "y"))(0.7, -0.4)
print(json.dumps({{"gradient": list(gradient), "again": list(again), "value": value,
                  "source_first_line": g.source().splitlines()[0],
                  "warnings": [f"{{w.category.__name__}}: {{w.message}}" for w in seen]}}))
"""


def _hand_gradient(x, y, a=2.0):
    """d/dx, d/dy of FUNCTION_SOURCE's target, by hand."""
    s = a * math.sin(x) * y + y * math.tanh(y)
    ds_dx, ds_dy = a * math.cos(x) * y, a * math.sin(x) + math.tanh(y) + y * (1.0 - math.tanh(y) ** 2)
    return 2.0 * s * ds_dx + 2.0 * x / (1.0 + x * x), 2.0 * s * ds_dy


def _run(tmp_path, cache_directory, module_dir, module_name, script=RUNNER, extra_environment=(), prefix=()):
    runner = tmp_path / f"run_{module_name}.py"
    runner.write_text(textwrap.dedent(script.format(module_dir=str(module_dir), module_name=module_name)))
    environment = _child_environment(cache_directory)
    environment["PYTHONDONTWRITEBYTECODE"] = "1"  # an edited helper must be read again, whatever its mtime
    environment.update(extra_environment)
    completed = subprocess.run([*prefix, sys.executable, str(runner)], capture_output=True, text=True,
                               cwd=tmp_path, check=False, env=environment, timeout=240)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _target_module(tmp_path, source=FUNCTION_SOURCE):
    module_dir = tmp_path / "functions"
    module_dir.mkdir(exist_ok=True)
    module_name = f"symgrad_cache_target_{os.getpid()}_{len(list(module_dir.iterdir()))}"
    (module_dir / f"{module_name}.py").write_text(textwrap.dedent(source))
    return module_dir, module_name


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def _garble(path):
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 8] = b"\x00#!@$%^&"
    path.write_bytes(bytes(data))


CORRUPTIONS = {
    "empty module": ("symgrad_*.py", lambda p: p.write_bytes(b"")),
    "truncated module": ("symgrad_*.py", _truncate),
    "garbled module": ("symgrad_*.py", _garble),
    "module without its seal": ("symgrad_*.py", lambda p: p.write_text(p.read_text().split("\n", 1)[1])),
    "truncated Numba index": ("__pycache__/*.nbi", _truncate),
    "truncated Numba data": ("__pycache__/*.nbc", _truncate),
    "garbled Numba index": ("__pycache__/*.nbi", _garble),
}


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_a_corrupt_entry_is_recomputed_with_a_warning(corruption, private_cache, tmp_path):
    module_dir, module_name = _target_module(tmp_path)
    first = _run(tmp_path, private_cache, module_dir, module_name)
    pattern, corrupt = CORRUPTIONS[corruption]
    files = sorted(private_cache.glob(pattern))
    assert files, f"no {pattern} in the cache after the first process"
    for path in files:
        corrupt(path)

    report = _run(tmp_path, private_cache, module_dir, module_name)
    expected = _hand_gradient(0.7, -0.4)
    assert report["gradient"] == pytest.approx(expected, rel=1e-12)
    assert report["again"] == pytest.approx(expected, rel=1e-12)
    assert report["gradient"] == first["gradient"]
    if "module" in corruption or corruption == "truncated Numba index":
        assert any(w.startswith("CacheWarning: symgrad: discarded") for w in report["warnings"]), report["warnings"]
    third = _run(tmp_path, private_cache, module_dir, module_name)  # the recomputed entry is sound again
    assert third["gradient"] == first["gradient"] and third["warnings"] == []


# Another process keeps truncating Numba's index between symgrad's check of the entry and Numba's read of it (the
# stress run met this: `UnpicklingError: pickle data was truncated` from inside a call, even after one retry).
HALF_WRITTEN_INDEX = """
import numba.core.caching

_load_index = numba.core.caching.IndexDataCacheFile._load_index


def _load_half_written_index(self):
    with open(self._index_path, "wb") as stream:
        stream.write({index!r}[:{cut}])
    return _load_index(self)


numba.core.caching.IndexDataCacheFile._load_index = _load_half_written_index
"""


@pytest.mark.parametrize("cut", [1, 40])
def test_a_numba_index_truncated_whenever_it_is_read_costs_the_cache_not_the_call(cut, private_cache, tmp_path):
    module_dir, module_name = _target_module(tmp_path)
    first = _run(tmp_path, private_cache, module_dir, module_name)
    (index, *_) = sorted(private_cache.glob("__pycache__/*.nbi"))
    racing = RUNNER.replace("import symgrad as sg", HALF_WRITTEN_INDEX.format(index=index.read_bytes(), cut=cut)
                            .replace("{", "{{").replace("}", "}}") + "\nimport symgrad as sg")
    report = _run(tmp_path, private_cache, module_dir, module_name, script=racing)
    assert report["gradient"] == first["gradient"] == pytest.approx(_hand_gradient(0.7, -0.4), rel=1e-12)
    assert report["again"] == first["gradient"]
    assert any("discarded Numba's cached file" in w for w in report["warnings"]), report["warnings"]
    third = _run(tmp_path, private_cache, module_dir, module_name)  # with Numba's reads left alone: sound again
    assert third["gradient"] == first["gradient"] and third["warnings"] == []


def test_an_appended_payload_is_never_executed(private_cache, tmp_path):
    module_dir, module_name = _target_module(tmp_path)
    _run(tmp_path, private_cache, module_dir, module_name)
    marker = tmp_path / "payload_ran"
    (module,) = private_cache.glob("symgrad_*.py")
    with module.open("a") as stream:
        stream.write(f"\nopen({str(marker)!r}, 'w').write('owned')\n")

    report = _run(tmp_path, private_cache, module_dir, module_name)
    assert not marker.exists(), "the tampered module was executed"
    assert report["gradient"] == pytest.approx(_hand_gradient(0.7, -0.4), rel=1e-12)
    assert any("does not match its hash" in w for w in report["warnings"]), report["warnings"]
    assert "open(" not in module.read_text(), "the tampered module is still in the cache"


def test_entries_are_private(private_cache, tmp_path):
    module = write_module(FUNCTION_SOURCE)
    sg.grad(module.target, wrt=("x", "y"))(0.7, -0.4)
    assert private_cache.stat().st_mode & 0o777 == 0o700
    (entry,) = private_cache.glob("symgrad_*.py")
    assert entry.stat().st_mode & 0o777 == 0o600
    assert entry.read_text().startswith("# symgrad sha256 ")


@pytest.mark.parametrize("problem", ["writable by others", "owned by another user", "a file in the way"])
def test_an_untrusted_directory_is_refused(problem, private_cache, monkeypatch):
    if problem == "writable by others":
        private_cache.mkdir()
        private_cache.chmod(0o777)
    elif problem == "owned by another user":
        private_cache.mkdir()
        monkeypatch.setattr(os, "getuid", lambda: private_cache.stat().st_uid + 1)
    else:
        private_cache.parent.mkdir(exist_ok=True)
        private_cache.write_text("not a directory")
    module = write_module(FUNCTION_SOURCE.replace("A = 2.0", "A = 2.5"))
    with pytest.warns(sg.CacheWarning, match="not using the cache directory"):
        gradient = sg.grad(module.target, wrt=("x", "y"))(0.7, -0.4)
    assert gradient == pytest.approx(_hand_gradient(0.7, -0.4, a=2.5), rel=1e-12)
    if private_cache.is_dir():
        assert not list(private_cache.iterdir()), "kernels were written to the refused directory"


def _without_root_privileges():
    """A command prefix under which permissions hold: root ignores them unless setpriv drops that capability."""
    if os.geteuid() != 0:
        return []
    assert shutil.which("setpriv"), "running as root: setpriv (util-linux) is needed to test a read-only directory"
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


def test_a_read_only_cache_directory_falls_back_with_one_warning(private_cache, tmp_path):
    module_dir, module_name = _target_module(tmp_path)
    private_cache.mkdir(mode=0o700)
    private_cache.chmod(0o500)
    try:
        report = _run(tmp_path, private_cache, module_dir, module_name, prefix=_without_root_privileges())
    finally:
        private_cache.chmod(0o700)
    assert report["gradient"] == pytest.approx(_hand_gradient(0.7, -0.4), rel=1e-12)
    assert report["again"] == report["gradient"]
    assert [w for w in report["warnings"] if "CacheWarning" in w] == [
        f"CacheWarning: symgrad: the cache directory {private_cache}: it cannot be written (Permission denied); "
        "kernels go to a private temporary directory"]
    assert not list(private_cache.iterdir())


def test_an_unwritable_cache_falls_back_with_one_warning(private_cache, monkeypatch):
    """A full disk or a read-only directory: writes raise OSError (simulated: the tests may run as root)."""
    import errno

    from symgrad import cache

    write_once = cache._write_once

    def full_disk(path, text):
        if path.parent == private_cache:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return write_once(path, text)

    monkeypatch.setattr(cache, "_write_once", full_disk)
    module = write_module(FUNCTION_SOURCE.replace("A = 2.0", "A = 3.5"))
    with pytest.warns(sg.CacheWarning, match="cannot be written") as seen:
        gradient = sg.grad(module.target, wrt=("x", "y"))(0.7, -0.4)
        value, again = sg.value_and_grad(module.target, wrt=("x", "y"))(0.7, -0.4)
        other = sg.grad(module.target, wrt="x")(0.7, -0.4)
    assert len(seen) == 1, [str(w.message) for w in seen]
    expected = _hand_gradient(0.7, -0.4, a=3.5)
    assert gradient == pytest.approx(expected, rel=1e-12) and again == gradient
    assert other == pytest.approx(expected[0], rel=1e-12)
    assert value == pytest.approx(module.target(0.7, -0.4), rel=1e-13)
    assert not list(private_cache.glob("symgrad_*")), "kernels were written to the unwritable directory"


# --- what the key covers, and what it leaves out -------------------------------------------------------------
def test_helpers_and_constants_through_module_attributes_are_in_the_key(private_cache, tmp_path):
    module_dir = tmp_path / "functions"
    (module_dir / "attrpkg").mkdir(parents=True)
    (module_dir / "attrpkg" / "__init__.py").write_text("")
    helpers, config = module_dir / "attrhelpers.py", module_dir / "attrpkg" / "cfg.py"
    helpers.write_text("def shape(t):\n    return t * t\n")
    config.write_text("SCALE = 2.0\n")
    module_dir_, module_name = _target_module(tmp_path, """
        import attrhelpers
        import attrpkg.cfg


        def target(x, y):
            return attrhelpers.shape(x) * attrpkg.cfg.SCALE + x * y
    """)
    first = _run(tmp_path, private_cache, module_dir, module_name)
    assert first["gradient"] == pytest.approx([2.0 * 2.0 * 0.7 - 0.4, 0.7], rel=1e-12)

    helpers.write_text("def shape(t):\n    return t * t * t\n")
    second = _run(tmp_path, private_cache, module_dir, module_name)
    assert second["gradient"] == pytest.approx([3.0 * 2.0 * 0.7 ** 2 - 0.4, 0.7], rel=1e-12), "stale helper"

    config.write_text("SCALE = 5.0\n")
    third = _run(tmp_path, private_cache, module_dir, module_name)
    assert third["gradient"] == pytest.approx([3.0 * 5.0 * 0.7 ** 2 - 0.4, 0.7], rel=1e-12), "stale constant"


SCRIPT = """
import json
import sys

import symgrad as sg
import symgrad.api


def target(x, y):
    return x * x * y + 3.0 * y


if __name__ == "__main__":
    if sys.argv[1] == "cached":
        def refuse(*args, **kwargs):
            raise AssertionError("derived again instead of sharing the first script's kernels")
        symgrad.api._derive = refuse
    g = sg.grad(target, wrt=("x", "y"))
    print(json.dumps({"gradient": list(g(1.5, 2.0)), "source": g.source().splitlines()[0],
                      "module": g.kernels.grad.py_func.__module__}))
"""


def test_two_scripts_share_kernels_but_name_their_own_file(private_cache, tmp_path):
    reports = {}
    for name, mode in (("first", "derive"), ("second", "cached")):
        (tmp_path / name).mkdir()
        script = tmp_path / name / "script.py"
        script.write_text(SCRIPT)
        completed = subprocess.run([sys.executable, str(script), mode], capture_output=True, text=True,
                                   cwd=tmp_path, check=False, env=_child_environment(private_cache), timeout=240)
        assert completed.returncode == 0, completed.stderr
        reports[name] = json.loads(completed.stdout.strip().splitlines()[-1])
    for name, report in reports.items():
        assert report["gradient"] == pytest.approx([2.0 * 1.5 * 2.0, 1.5 * 1.5 + 3.0], rel=1e-14)
        assert f"{tmp_path / name / 'script.py'}:" in report["source"], report["source"]
    assert reports["first"]["module"] == reports["second"]["module"]
    assert len(list(private_cache.glob("symgrad_*.py"))) == 1


def test_kernel_messages_name_the_line_the_function_is_on_now(private_cache):
    """The kernels' messages name lines, so the function's first line is part of the key (its file is not)."""
    import numpy as np

    source = """
        def fourth(x):
            return x[3] * x[0]
    """
    name = f"symgrad_moved_{os.getpid()}"
    first = write_module(source, name=name)
    with pytest.raises(IndexError, match=r"line \d+ indexes argument .x. with 3") as refused:
        sg.grad(first.fourth)(np.ones(2))
    line = int(re.search(r"line (\d+)", str(refused.value)).group(1))
    moved = write_module("\n\n" + textwrap.dedent(source), name=name)  # the same source, two lines lower
    with pytest.raises(IndexError, match=rf"line {line + 2} indexes argument .x. with 3"):
        sg.grad(moved.fourth)(np.ones(2))
    gradient = sg.grad(moved.fourth)(np.arange(1.0, 5.0))
    assert list(gradient) == [4.0, 0.0, 0.0, 1.0]


def test_with_no_writable_disk_at_all_the_module_lives_in_memory(private_cache, monkeypatch):
    import errno

    from symgrad import cache

    def full_disk(path, text):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(cache, "_write_once", full_disk)
    module = write_module(FUNCTION_SOURCE.replace("A = 2.0", "A = 4.5"))
    with pytest.warns(sg.CacheWarning, match="cannot be written") as seen:
        g = sg.grad(module.target, wrt=("x", "y"))
        gradient = g(0.7, -0.4)
        latex = g.latex()
    assert len(seen) == 1, [str(w.message) for w in seen]
    assert gradient == pytest.approx(_hand_gradient(0.7, -0.4, a=4.5), rel=1e-12)
    assert g.kernels.grad.py_func.__code__.co_filename.startswith("<symgrad_")
    assert "def grad(" in g.source() and r"\frac{\partial" in latex


def test_a_global_tuple_of_classes_is_described_not_a_type_error(private_cache):
    """A class such as np.ndarray has an `ndim` descriptor, which the key once read as a number of axes: a function
    that reads a tuple of classes raised TypeError before the lifter could refuse it."""
    module = write_module("""
        import numpy as np

        KINDS = (np.ndarray, float)

        def reads_classes(x):
            return x * 2.0 if KINDS else x
    """)
    with pytest.raises(sg.UnsupportedSyntaxError, match="'KINDS' is a tuple, not a number"):
        sg.grad(module.reads_classes)(1.0)
