"""The documentation: the site builds with `mkdocs build --strict`, offline, with its math; the error catalogue has
an entry for every error class, and each entry's wrong code raises what the page says while its right code gives
the value the page says; the gallery covers every example."""

import os
import pathlib
import re
import subprocess
import sys
import types

import numpy as np
import pytest

import symgrad as sg
from symgrad import errors

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


# --- the site -----------------------------------------------------------------------------------------------------
def test_site_builds_strictly_offline_with_math(tmp_path):
    # Only a missing mkdocs skips: with mkdocs there, a missing theme, plugin or MathJax fails the build loudly.
    pytest.importorskip("mkdocs", reason="mkdocs is not installed: pip install -e '.[dev]' installs the docs tools")
    site = tmp_path / "site"
    environment = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                            str(ROOT / "mkdocs.yml"), "--site-dir", str(site)],
                           capture_output=True, text=True, timeout=600, cwd=ROOT, env=environment)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]

    mathjax = site / "javascripts" / "mathjax" / "tex-svg.js"
    assert mathjax.stat().st_size > 100_000  # the real MathJax, from the installed package
    pages = sorted(site.glob("**/index.html"))
    assert len(pages) >= 12
    for page in pages:
        html = page.read_text()
        # offline: every script and stylesheet is served by the site itself
        remote = re.findall(r'<(?:script[^>]*src|link[^>]*rel="stylesheet"[^>]*href)="(https?:[^"]+)"', html)
        assert not remote, f"{page.relative_to(site)} loads {remote}"
        assert "javascripts/mathjax/tex-svg.js" in html
    gallery = (site / "gallery" / "index.html").read_text()
    assert gallery.count('class="arithmatex"') >= 8 and r"\frac{\partial \operatorname{loss}}{\partial x}" in gallery
    assert 'src="../images/moons_boundary.png"' in gallery and (site / "images" / "moons_boundary.png").exists()
    reference = (site / "reference" / "index.html").read_text()
    assert 'id="symgrad.grad"' in reference and 'id="symgrad.Transform.pretty"' in reference
    assert not list(site.glob("**/*.py")), "the hooks and scripts under docs/ must not be published"


def test_performance_page_exists_and_names_its_generator():
    assert "python -m benchmarks.run" in (DOCS / "performance.md").read_text()


# --- the gallery ----------------------------------------------------------------------------------------------------
def test_gallery_covers_every_example():
    gallery = (DOCS / "gallery.md").read_text()
    examples = sorted(p.name for p in (ROOT / "examples").iterdir() if p.suffix in (".py", ".ipynb"))
    missing = [name for name in examples if f"`{name}`" not in gallery]
    assert not missing, f"add {missing} to docs/make_gallery.py and run it"
    assert (DOCS / "images" / "moons_boundary.png").stat().st_size > 10_000


# --- the error catalogue ----------------------------------------------------------------------------------------------
CATALOGUE = (DOCS / "errors.md").read_text()
ERROR_CLASSES = [value for value in vars(errors).values()
                 if isinstance(value, type) and issubclass(value, Exception) and value.__module__ == errors.__name__]


def sections():
    """{class name: the text of its section} for every `## \\`Name\\`` heading of docs/errors.md."""
    parts = re.split(r"^## `(\w+)`\n", CATALOGUE, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2]))


def test_catalogue_has_wrong_and_right_code_for_every_error_class():
    found = sections()
    for kind in ERROR_CLASSES:
        assert kind.__name__ in found, f"docs/errors.md has no section for {kind.__name__}"
        assert "**Wrong**" in found[kind.__name__] and "**Right**" in found[kind.__name__], kind.__name__


def examples(section):
    """(wrong code, the error text shown after it) pairs, and the right code blocks, of one section."""
    blocks = re.findall(r"\*\*(Wrong|Right)\*\*.*?```python\n(.*?)```(?:\s*```text\n(.*?)```)?", section, re.DOTALL)
    return [(code, shown.strip()) for label, code, shown in blocks if label == "Wrong"], \
           [code for label, code, _ in blocks if label == "Right"]


def run_snippet(code, directory, name):
    """Run a snippet as the module example.py, as the page assumes: math, random, np and sg already imported."""
    path = directory / "example.py"
    path.write_text(code)
    module = types.ModuleType(name)
    module.__file__ = str(path)
    module.__dict__.update(math=__import__("math"), random=__import__("random"), np=np, sg=sg)
    sys.modules[name] = module
    exec(compile(code, str(path), "exec"), module.__dict__)
    return module


@pytest.mark.parametrize("kind", [k.__name__ for k in ERROR_CLASSES])
def test_catalogue_examples_do_what_the_page_says(kind, tmp_path, monkeypatch):
    monkeypatch.setenv("SYMGRAD_QUIET", "1")
    wrongs, rights = examples(sections()[kind])
    assert wrongs and rights
    for number, (code, shown) in enumerate(wrongs):
        directory = tmp_path / f"wrong{number}"
        directory.mkdir()
        with pytest.raises(getattr(errors, kind)) as raised:
            run_snippet(code, directory, f"symgrad_docs_{kind}_wrong{number}")
        error = raised.value
        message = f"{kind}: {error.msg}" if isinstance(error, SyntaxError) else f"{kind}: {error}"
        if isinstance(error, SyntaxError) and error.filename:
            where = "<string>" if error.filename == "<string>" else "example.py"
            message += f" ({where}:{error.lineno}:{error.offset})"
        message = message.replace(str(directory) + os.sep, "")
        assert shown.endswith(message), f"the page shows\n{shown}\nbut got\n{message}"
    for number, code in enumerate(rights):
        directory = tmp_path / f"right{number}"
        directory.mkdir()
        module = run_snippet(code, directory, f"symgrad_docs_{kind}_right{number}")
        # a line `call(...)   # value` states the result, worked out by hand: check it
        for line in code.splitlines():
            stated = re.match(r"^([\w.]+\(.*\))\s+#\s*(array\(\[[^\]]*\]\)|-?[0-9][0-9.e+-]*)", line)
            if stated:
                expected = eval(stated.group(2), {"array": np.array})
                assert np.allclose(eval(stated.group(1), module.__dict__), expected, rtol=1e-12), line


def test_links_to_repository_files_show_as_paths_on_the_site():
    import importlib.util

    assert "docs/hooks/source_links.py" in (ROOT / "mkdocs.yml").read_text()
    spec = importlib.util.spec_from_file_location("source_links", DOCS / "hooks" / "source_links.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    page = ("timed ([hand.py](../benchmarks/hand.py), [twins](../benchmarks/twins.py#L3)); see [the API](api.md) "
            "and [JAX](https://jax.readthedocs.io/en/latest/errors.html)")
    assert hook.show_source_links(page) == ("timed (`benchmarks/hand.py`, `benchmarks/twins.py`); see [the API](api.md) "
                                            "and [JAX](https://jax.readthedocs.io/en/latest/errors.html)")
