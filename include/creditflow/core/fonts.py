"""The one Chinese font of every PDF and chart the project makes (feedback reports, the inspection plan,
the credit documents — all through :mod:`creditflow.core.pdf`).

The font is a Python package installed by the project's own install step from PyPI — never fetched at
run time, and the same in the Docker image (``requirements.txt``):

    pylopdf-fonts-zh-cn==0.1.1   Noto Sans SC / Noto Serif SC (SIL Open Font License 1.1)

:func:`cjk_font_path` finds it (``CREDITFLOW_CJK_FONT`` may point at another OpenType/TrueType file, e.g.
the bureau's licensed 方正/思源 font); :func:`use_cjk_font` makes matplotlib draw every text with it and
embed it in PDFs. Embedding: Type 3 (the default here) works in every PDF reader and keeps the text
extractable (a ToUnicode map per glyph); ``fonttype=42`` embeds the OpenType outlines instead.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

FONT_PACKAGE = "pylopdf-fonts-zh-cn==0.1.1"
ENV_VARIABLE = "CREDITFLOW_CJK_FONT"
#: Used only when the package is missing (a host with Debian's CJK fonts installed).
DEBIAN_FONTS = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
                "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")


class FontMissing(RuntimeError):
    """No Chinese font is installed: Chinese text would render as empty boxes."""


def cjk_font_path(style: str = "sans") -> Path:
    """Path of the Chinese font file (``style``: ``sans`` or ``serif``); raises :class:`FontMissing`."""
    given = os.environ.get(ENV_VARIABLE, "").strip()
    if given:
        path = Path(given)
        if not path.is_file():
            raise FontMissing(f"{ENV_VARIABLE}={given} is not a font file")
        return path
    try:
        import pylopdf_fonts_zh_cn as fonts
    except ImportError:
        for candidate in map(Path, DEBIAN_FONTS):
            if candidate.is_file():
                return candidate
        raise FontMissing(f"no Chinese font: install {FONT_PACKAGE} (requirements.txt) or set {ENV_VARIABLE}") \
            from None
    path = Path(fonts.serif_path() if style == "serif" else fonts.sans_path())
    if not path.is_file():
        raise FontMissing(f"{FONT_PACKAGE} is installed without its font file {path.name}: reinstall it")
    return path


@cache
def _register(path: str) -> str:
    from matplotlib import font_manager

    font_manager.fontManager.addfont(path)
    return str(font_manager.FontProperties(fname=path).get_name())


def use_cjk_font(style: str = "sans", fonttype: int = 3) -> dict[str, Any]:
    """Set matplotlib's defaults so that Chinese renders and is embedded in PDFs; returns the settings.

    Call it before drawing (it changes the global ``rcParams``; use ``matplotlib.rc_context(settings)`` to
    keep the change local). The PDF's metadata carries no creation date (see ``pdf_metadata``), so the
    same figures give the same bytes.
    """
    import matplotlib

    name = _register(str(cjk_font_path(style)))
    settings: Any = {"font.family": [name], "font.sans-serif": [name, "DejaVu Sans"], "pdf.fonttype": fonttype,
                "axes.unicode_minus": False, "svg.fonttype": "none"}
    matplotlib.rcParams.update(settings)
    return settings


def pdf_metadata(title: str, subject: str = "", author: str = "") -> dict[str, Any]:
    """Metadata for ``PdfPages``/``savefig``: a title, no creation date (reproducible bytes)."""
    return {"Title": title, "Subject": subject, "Author": author or None, "Creator": "creditflow",
            "Producer": "creditflow", "CreationDate": None}
