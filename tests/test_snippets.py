"""Every ```python block of README.md and docs/*.md runs as shown, so a reader can paste it.

Each block runs on its own, in a fresh module, unless an HTML comment just above it says otherwise:

* `<!-- snippet: continues -->`: it runs after the block before it, in the same module (names carry over);
* `<!-- snippet: raises NAME -->`: it must raise the exception class NAME (or a subclass), with the message its
  `# NAME: message` comment shows;
* `<!-- snippet: fragment -->`: lines to paste into a file of symgrad (not Python on their own); not run.

Two pages are left to the tests that already run them with their own conventions: docs/errors.md (each Wrong and
Right block, by tests/test_docs.py) and docs/gallery.md (generated from examples/, which tests/test_examples.py runs).
"""

import pathlib
import re
import sys
import types

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md"] + sorted(p for p in (ROOT / "docs").glob("*.md") if p.name not in ("errors.md",
                                                                                              "gallery.md"))
BLOCK = re.compile(r"(?:<!-- snippet: ([^>]*?) -->\n)?```python\n(.*?)```", re.DOTALL)


def blocks(page):
    """[(line, {marker: argument}, code)] for every python block of a page."""
    text = page.read_text()
    found = []
    for match in BLOCK.finditer(text):
        markers = dict((part.strip().split(" ", 1) + [""])[:2] for part in (match.group(1) or "").split(",")
                       if part.strip())
        found.append((text[:match.start(2)].count("\n") + 1, markers, match.group(2)))
    return found


def chains(page):
    """The blocks grouped into runs: a block marked `continues` joins the run of the block before it."""
    runs = []
    for line, markers, code in blocks(page):
        if "fragment" in markers:
            continue
        if "continues" in markers:
            assert runs, f"{page.name}:{line}: the first block cannot continue another"
            runs[-1].append((line, markers, code))
        else:
            runs.append([(line, markers, code)])
    return runs


CHAINS = [(page, chain) for page in PAGES for chain in chains(page)]


@pytest.mark.parametrize("page, chain", CHAINS, ids=[f"{p.name}:{c[0][0]}" for p, c in CHAINS])
def test_snippet_runs_as_shown(page, chain, tmp_path, monkeypatch):
    monkeypatch.setenv("SYMGRAD_QUIET", "1")
    monkeypatch.chdir(ROOT)  # as the README's commands are run: from the clone
    name = f"symgrad_snippet_{page.stem.replace('-', '_')}_{chain[0][0]}"
    module = types.ModuleType(name)
    monkeypatch.setitem(sys.modules, name, module)
    for line, markers, code in chain:
        path = tmp_path / f"{page.stem}_{line}.py"  # symgrad reads the functions' source from this file
        path.write_text(code)
        compiled = compile(code, str(path), "exec")
        if "raises" not in markers:
            exec(compiled, module.__dict__)
            continue
        with pytest.raises(Exception) as raised:
            exec(compiled, module.__dict__)
        kind = markers["raises"]
        assert kind in [c.__name__ for c in type(raised.value).__mro__], f"{page.name}:{line}: {raised.value!r}"
        shown = re.search(rf"^# {kind}: (.*)$", code, re.MULTILINE)
        if shown:
            assert shown.group(1) in f"{raised.value}", f"{page.name}:{line}: the page shows {shown.group(1)!r}"


def test_markers_are_understood():
    """A misspelt marker would silently run a block the wrong way."""
    for page in PAGES:
        text = page.read_text()
        for marker in re.findall(r"<!-- snippet: ([^>]*?) -->", text):
            for part in marker.split(","):
                assert part.strip().split(" ")[0] in ("continues", "raises", "fragment"), f"{page.name}: {marker}"
        assert text.count("<!-- snippet:") == len(re.findall(r"<!-- snippet: [^>]*? -->\n```python", text)), \
            f"{page.name}: a marker must be on the line just above its ```python block"
