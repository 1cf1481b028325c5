"""examples/formulas.ipynb executes in a real Jupyter kernel, and its outputs carry the formulas: `text/latex` from
`_repr_latex_`, the pretty-printed text, and `text/markdown` from `to_markdown()`."""

import json
import pathlib
import sys

import pytest

nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed (pip install -e '.[dev]')")
nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed (pip install -e '.[dev]')")
pytest.importorskip("ipykernel", reason="ipykernel is not installed (pip install -e '.[dev]')")

NOTEBOOK = pathlib.Path(__file__).resolve().parent.parent / "examples" / "formulas.ipynb"


def outputs(cell):
    """Every output of a cell as {mime type or 'stream': text}."""
    found = {}
    for output in cell.outputs:
        if output.output_type == "stream":
            found["stream"] = found.get("stream", "") + output.text
        for mime, data in output.get("data", {}).items():
            found[mime] = "".join(data) if isinstance(data, list) else data
    return found


def test_notebook_executes_and_shows_latex(tmp_path, monkeypatch):
    # A kernelspec for this very interpreter, so the kernel imports the symgrad under test (not another install).
    kernel = tmp_path / "kernels" / "python3"
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (symgrad tests)", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    monkeypatch.setenv("SYMGRAD_QUIET", "1")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    code = [outputs(cell) for cell in notebook.cells if cell.cell_type == "code"]

    latex = code[0]["text/latex"]
    assert latex.startswith("$$\\begin{aligned}") and latex.endswith("\\end{aligned}$$")
    assert r"\frac{\partial \operatorname{rosen}}{\partial x}" in latex
    assert r"\frac{\partial \operatorname{rosen}}{\partial y}" in latex
    # the gradient, against the hand-derived (2 (x - 1) - 400 x (y - x^2), 200 (y - x^2)) at (1.5, 2)
    assert code[1]["text/plain"] == "(151.0, -50.0)"
    assert "∂rosen" in code[2]["stream"] and "────" in code[2]["stream"]
    markdown = code[3]["text/markdown"]
    assert markdown.startswith("```python\n@sg.grad") and "$$\n\\begin{aligned}" in markdown
