"""MkDocs hook: links from a page to the repository's own files outside docs/ (`[hand.py](../benchmarks/hand.py)`)
have no page on the site, and `mkdocs build --strict` rightly refuses them.  They still read well on GitHub, where
the same pages are browsed, so keep them in the Markdown and show them on the site as the file's path, in code.
"""

import re

# a Markdown link whose target climbs out of docs/ to a file of the repository (not to a web address)
SOURCE_LINK = re.compile(r"\[([^\]]+)\]\((?:\.\./)+((?:[\w.-]+/)*[\w.-]+\.\w+)(#[\w-]*)?\)")


def show_source_links(markdown):
    """`[text](../dir/file.py)` -> `` `dir/file.py` `` (the link's text is dropped: the path says more)."""
    return SOURCE_LINK.sub(lambda match: f"`{match.group(2)}`", markdown)


def on_page_markdown(markdown, page, config, files):
    return show_source_links(markdown)
