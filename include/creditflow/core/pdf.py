"""The one PDF layer of every document the project prints: the feedback report (``feedback/pdf.py``), the
inspection plan's summary (``planning/pdf.py``) and the credit documents (``credit/render.py``).

Pages are matplotlib figures (charts sit next to text and tables; no other PDF library); Chinese is drawn
with the project's one font (:mod:`creditflow.core.fonts`), embedded, and the file carries no creation date
(the same content gives the same bytes). Figures are made with :class:`matplotlib.figure.Figure`, never
pyplot: the credit documents are rendered inside the API server's threads, where pyplot's global state is
not safe. Here: :func:`document` (the file), :func:`page` (an A4 figure with its heading), :func:`wrap`
(the one Chinese line wrapper) and :func:`table`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import IO, Any

from creditflow.core.fonts import FontMissing, pdf_metadata, use_cjk_font

__all__ = ["A4", "A4_LANDSCAPE", "FontMissing", "document", "page", "table", "text_width", "wrap"]

A4 = (8.27, 11.69)  # inches, portrait
A4_LANDSCAPE = (A4[1], A4[0])
ASCII_EM = 0.55  # a Latin letter or digit of the CJK font, in ems (a Chinese character is 1)
#: Never at the start of a line (GB/T 15834 and the usual 禁则): hung on the end of the line before.
_NO_LINE_START = "，。；：、）》”！？"
_TOKENS = re.compile(r"[!-~]+|.", flags=re.DOTALL)  # a run of ASCII (a code, a number, a URL) or one character


@contextlib.contextmanager
def document(target: str | Any | IO[bytes], title: str, subject: str = "", author: str = "",
             font_size: float | None = None) -> Iterator[Any]:
    """A PDF being written to ``target`` (a path or a binary file): yields matplotlib's ``PdfPages``
    (``pdf.savefig(fig)`` adds a page). Chinese with the project's font, embedded (Type 3: extractable
    text in every reader); ``font_size`` sets the default text size."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_pdf import PdfPages

    settings: Any = use_cjk_font()
    if font_size is not None:
        settings = {**settings, "font.size": font_size}
    with matplotlib.rc_context(settings), PdfPages(target, metadata=pdf_metadata(title, subject, author)) as pdf:
        yield pdf


def page(size: tuple[float, float] = A4, title: str = "", subtitle: str = "") -> Any:
    """A blank page (a figure of ``size`` inches), with a centred heading and a grey line under it."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    if title:
        fig.text(0.5, 0.965, title, ha="center", va="top", fontsize=13)
    if subtitle:
        fig.text(0.5, 0.94, subtitle, ha="center", va="top", fontsize=8, color="#555555")
    return fig


def text_width(text: str) -> float:
    """Width in ems: a Chinese (any non-ASCII) character 1, an ASCII one :data:`ASCII_EM`."""
    return sum(ASCII_EM if ord(ch) < 128 else 1.0 for ch in text)


def wrap(text: Any, width: float, indent: float = 0.0) -> list[str]:
    """``text`` as lines of at most ``width`` ems (the first line starts ``indent`` ems in; ``\\n`` breaks).

    A run of ASCII letters and digits (a code, a number, a URL) is kept whole unless it is longer than a
    line — a number broken across lines would read as another number; closing punctuation never starts a
    line: it is hung on the end of the line before (up to one em past ``width``)."""
    lines: list[str] = []
    line, used = "", indent
    for token in _TOKENS.findall(str(text)):
        if token == "\n":
            lines.append(line)
            line, used = "", 0.0
            continue
        w = text_width(token)
        if used + w > width and line:
            if token in _NO_LINE_START and used + w <= width + 1:
                line, token, w = line + token, "", 0.0
            lines.append(line)
            line, used = "", 0.0
        while w > width:  # a run longer than a whole line
            cut = max(1, int(width / ASCII_EM))
            lines.append(token[:cut])
            token = token[cut:]
            w = text_width(token)
        line += token
        used += w
    lines.append(line)
    return lines


def table(fig: Any, rect: list[float], header: list[str], rows: list[list[str]], widths: list[float],
          fontsize: float = 7.5) -> float:
    """Draw a table from the top of ``rect`` (left, bottom, width, height in figure fractions): a dark
    header, banded rows, each row as high as its tallest cell (lines split by ``\\n``; wrap them first).
    ``widths`` are fractions of the table's width. Returns the figure y below the last row drawn."""
    from matplotlib.patches import Rectangle

    left, _, width, height = rect
    top = rect[1] + height
    line = fontsize * 1.45 / 72 / fig.get_figheight()  # one text line in figure fraction
    pad = 0.0035
    if not rows:
        rows = [["无"] + [""] * (len(header) - 1)]
    y = top
    for i, cells in enumerate([header, *rows]):
        h = max(str(c).count("\n") + 1 for c in cells) * line + 2 * pad
        x = left
        for j, text in enumerate(cells):
            w = widths[j] * width
            fig.patches.append(Rectangle((x, y - h), w, h, transform=fig.transFigure, figure=fig,
                                         facecolor="#1F4E79" if i == 0 else ("#F3F5F7" if i % 2 == 0 else "white"),
                                         edgecolor="#B7BDC4", linewidth=0.4))
            fig.text(x + 0.004, y - pad, str(text), ha="left", va="top", fontsize=fontsize,
                     color="white" if i == 0 else "black", linespacing=1.25)
            x += w
        y -= h
    return y
