"""The CJK font for raster receipts, PNG and PDF, loaded once per size.

Lookup is ``drivers.printer.fonts.find_cjk_font`` (``fonts-wqy-microhei``; ConfigError naming
the package when missing, ``COUNTERTOP_CJK_FONT`` overrides). There is no silent fallback:
without a CJK font Chinese would print as boxes.
"""

from __future__ import annotations

from functools import lru_cache

from appliance.errors import ConfigError
from drivers.printer.fonts import find_cjk_font


def load_font(size: int, path: str | None = None) -> object:
    """A Pillow font of ``size`` pixels from ``path`` (default: ``find_cjk_font()``).

    The WenQuanYi collection's face 1 is the monospaced variant, so Latin text keeps the
    receipt's columns. The font is looked up every call (a font removed later is reported),
    loaded once per file and size.
    """
    return _load(path or str(find_cjk_font()), size)


@lru_cache(maxsize=16)
def _load(font_path: str, size: int) -> object:
    from PIL import ImageFont

    index = 1 if font_path.endswith("microhei.ttc") else 0
    try:
        return ImageFont.truetype(font_path, size, index=index)
    except OSError as exc:
        raise ConfigError(f"cannot load font {font_path!r}: {exc}") from exc
