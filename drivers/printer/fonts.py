"""Font lookup shared by the receipt renderer, the printer mock and the UI.

Chinese needs a CJK font. The appliance uses Debian's ``fonts-wqy-microhei`` (Apache-2.0, 1.6 MB):
it loads in both Pillow and pygame and covers GB18030's common characters.
"""

from __future__ import annotations

import os
from pathlib import Path

from appliance.errors import ConfigError

#: Where Debian/Raspberry Pi OS install the font; the first that exists wins.
CJK_FONT_CANDIDATES: tuple[Path, ...] = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/wqy-microhei/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
)

#: Monospaced Latin font for rendering receipts (optional: the CJK font covers Latin too).
MONO_FONT_CANDIDATES: tuple[Path, ...] = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSansMono.ttf"),
)


def find_cjk_font() -> Path:
    """Path of an installed CJK font; ``$COUNTERTOP_CJK_FONT`` overrides the search.

    Raises ConfigError naming the package to install when none is found.
    """
    override = os.environ.get("COUNTERTOP_CJK_FONT", "")
    if override:
        path = Path(override)
        if not path.is_file():
            raise ConfigError(f"COUNTERTOP_CJK_FONT={override} is not a file")
        return path
    for path in CJK_FONT_CANDIDATES:
        if path.is_file():
            return path
    raise ConfigError(
        "no CJK font found for Chinese text "
        f"(looked for {CJK_FONT_CANDIDATES[0]}): install fonts-wqy-microhei "
        "(apt-get install fonts-wqy-microhei) or set COUNTERTOP_CJK_FONT"
    )


def find_mono_font() -> Path | None:
    """Path of a monospaced Latin font, or None when none is installed."""
    for path in MONO_FONT_CANDIDATES:
        if path.is_file():
            return path
    return None
