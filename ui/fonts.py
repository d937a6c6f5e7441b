"""Fonts for the touchscreen: one CJK font (it covers Latin too) loaded at each size on demand.

The lookup is ``drivers.printer.fonts.find_cjk_font`` when that module is present (the receipt
renderer and the screen then use the same file); otherwise the same search is done here.
"""

from __future__ import annotations

import os
from pathlib import Path

from appliance.errors import ConfigError

#: Where Debian/Raspberry Pi OS install a CJK font; the first that exists wins.
CJK_FONT_CANDIDATES: tuple[Path, ...] = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/wqy-microhei/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
)

MISSING_FONT_HELP = (
    "no CJK font found for the touchscreen (looked for {first}): install the package "
    "fonts-wqy-microhei (apt-get install -y fonts-wqy-microhei) or set COUNTERTOP_CJK_FONT"
)


def find_cjk_font() -> Path:
    """Path of an installed CJK font; ``$COUNTERTOP_CJK_FONT`` overrides the search.

    Raises ConfigError naming the package to install when none is found.
    """
    try:
        from drivers.printer.fonts import find_cjk_font as shared
    except ImportError:
        shared = None
    if shared is not None:
        try:
            return Path(shared())
        except ConfigError as exc:
            if os.environ.get("COUNTERTOP_CJK_FONT"):
                raise  # the override names a missing file: that message says so
            raise ConfigError(MISSING_FONT_HELP.format(first=CJK_FONT_CANDIDATES[0])) from exc
    override = os.environ.get("COUNTERTOP_CJK_FONT", "")
    if override:
        path = Path(override)
        if not path.is_file():
            raise ConfigError(f"COUNTERTOP_CJK_FONT={override} is not a file")
        return path
    for path in CJK_FONT_CANDIDATES:
        if path.is_file():
            return path
    raise ConfigError(MISSING_FONT_HELP.format(first=CJK_FONT_CANDIDATES[0]))
