"""`python -m pip install -e .` of a clone, then Python run from the folder that holds the clone.

There, the clone's folder `symgrad/` (no `__init__.py`) is a namespace package on sys.path[0] (''), and with
setuptools' import-hook editable install it won over the real package: `module 'symgrad' has no attribute 'grad'`.
pyproject.toml maps the package directory to the project root, so the install is a plain .pth with the root,
where the regular package wins over the namespace portion.  The test installs a copy into a fresh virtual
environment, as a user would.
"""

import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
IGNORED = shutil.ignore_patterns(".git", "__pycache__", "*.egg-info", "build", "dist", "site", ".pytest_cache",
                                 ".hypothesis", ".venv")


def test_import_from_the_folder_that_holds_the_clone(tmp_path):
    clone = tmp_path / "parent" / "symgrad"
    shutil.copytree(ROOT, clone, ignore=IGNORED)
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(tmp_path / "venv")], check=True,
                   timeout=300)
    python = tmp_path / "venv" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    # without `wheel`, setuptools before 70.1 cannot build in this environment: let pip make an isolated one
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("wheel") else []
    installed = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", *isolation, "-e", "."],
                               cwd=clone, capture_output=True, text=True, timeout=600, env=environment)
    assert installed.returncode == 0, installed.stdout[-2000:] + installed.stderr[-2000:]
    imported = subprocess.run([str(python), "-c", "import symgrad; print(symgrad.__file__); symgrad.grad"],
                              cwd=clone.parent, capture_output=True, text=True, timeout=300, env=environment)
    assert imported.returncode == 0, imported.stderr[-2000:]
    assert pathlib.Path(imported.stdout.strip()) == clone / "symgrad" / "__init__.py"
