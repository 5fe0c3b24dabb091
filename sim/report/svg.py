"""Matplotlib figures as inline SVG for the report: text kept as text (searchable, small), no XML
prolog or DOCTYPE (not allowed inside HTML), sized by the page (``viewBox`` kept, fixed width and
height dropped) and with a title for screen readers."""

from __future__ import annotations

import io
import re
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_PROLOG = re.compile(r"^.*?(?=<svg\b)", re.S)
_SIZE = re.compile(r'(<svg\b[^>]*?)\s(?:width|height)="[^"]*"')
_WIDTH = re.compile(r'<svg\b[^>]*?\swidth="([0-9.]+pt)"')
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)


def figure_svg(fig: Figure, title: str) -> str:
    """``fig`` as an ``<svg>`` element (the figure is closed afterwards)."""
    import matplotlib
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    # the salt makes the figure's element ids deterministic and, one salt per title, unique
    # across the figures of a page
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": f"sim:{title}"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    text = _PROLOG.sub("", buffer.getvalue(), count=1)
    text = _METADATA.sub("", _COMMENT.sub("", text))
    width = _WIDTH.search(text)
    for _ in range(2):
        text = _SIZE.sub(r"\1", text, count=1)
    head, sep, rest = text.partition(">")
    label = escape(title, quote=True)
    style = f' style="max-width: {width.group(1)}"' if width else ""
    return f'{head} role="img" aria-label="{label}"{style}{sep}<title>{escape(title)}</title>{rest}'
