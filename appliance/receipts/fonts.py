"""Locate the CJK font used to draw Chinese on raster receipts, PNG and PDF.

Debian/Raspberry Pi OS package ``fonts-wqy-microhei`` (Apache-2.0). ``COUNTERTOP_CJK_FONT`` may
name another TrueType/OpenType file. There is no silent fallback: without a CJK font Chinese
would print as boxes, so a missing font is a ConfigError that names the package to install.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from appliance.errors import ConfigError

CJK_FONT_PACKAGE = "fonts-wqy-microhei"
CJK_FONT_PATHS: tuple[str, ...] = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/wqy-microhei/wqy-microhei.ttc",
    "/usr/local/share/fonts/wqy-microhei.ttc",
)


def find_cjk_font() -> Path:
    """Path of a CJK font file; raise ConfigError naming the package when there is none."""
    override = os.environ.get("COUNTERTOP_CJK_FONT")
    if override:
        path = Path(override)
        if not path.is_file():
            raise ConfigError(f"COUNTERTOP_CJK_FONT={override!r} is not a font file")
        return path
    for candidate in CJK_FONT_PATHS:
        if Path(candidate).is_file():
            return Path(candidate)
    raise ConfigError(
        f"no CJK font found for Chinese receipts: install it with "
        f"`sudo apt-get install -y {CJK_FONT_PACKAGE}` (or set COUNTERTOP_CJK_FONT)"
    )


@lru_cache(maxsize=16)
def load_font(size: int, path: str | None = None) -> object:
    """A Pillow font of ``size`` pixels from ``path`` (default: ``find_cjk_font()``).

    The WenQuanYi collection's face 1 is the monospaced variant, so Latin text keeps the
    receipt's columns.
    """
    from PIL import ImageFont

    font_path = path or str(find_cjk_font())
    index = 1 if font_path.endswith(".ttc") else 0
    try:
        return ImageFont.truetype(font_path, size, index=index)
    except OSError as exc:
        raise ConfigError(f"cannot load font {font_path!r}: {exc}") from exc
