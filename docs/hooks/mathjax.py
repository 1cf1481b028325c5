"""MkDocs hook: add MathJax, from the installed django-static-mathjax package, to the site's files.

The pages render their formulas offline, and no third-party JavaScript lives in this repository.  MathJax's
`tex-svg.js` is one self-contained file (its fonts are drawn as SVG paths), so it is the only file needed.
"""

import pathlib

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

SITE_PATH = "javascripts/mathjax/tex-svg.js"  # where mkdocs.yml's extra_javascript expects it


def on_files(files, config):
    try:
        import mathjax  # the django-static-mathjax package (no Django needed: it only ships MathJax's files)
    except ImportError:
        raise PluginError("MathJax is not installed: pip install django-static-mathjax "
                          "(it is in symgrad's dev extra: pip install -e '.[dev]')") from None
    source = pathlib.Path(mathjax.__file__).parent / "static" / "mathjax" / "es5" / "tex-svg.js"
    if not source.is_file():
        raise PluginError(f"{source} is missing: reinstall django-static-mathjax")
    files.append(File.generated(config, SITE_PATH, abs_src_path=str(source)))
    return files
