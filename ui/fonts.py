"""Fonts for the touchscreen: one CJK font (it covers Latin too) loaded at each size on demand.

The lookup is the printer's (``drivers.printer.fonts.find_cjk_font``), so the receipt renderer
and the screen use the same file; only the message names the touchscreen.
"""

from __future__ import annotations

import os
from pathlib import Path

from appliance.errors import ConfigError
from drivers.printer import fonts as shared


def find_cjk_font() -> Path:
    """Path of an installed CJK font; ``$COUNTERTOP_CJK_FONT`` overrides the search.

    Raises ConfigError naming the package to install when none is found.
    """
    try:
        return Path(shared.find_cjk_font())
    except ConfigError as exc:
        if os.environ.get("COUNTERTOP_CJK_FONT"):
            raise  # the override names a missing file: that message says so
        raise ConfigError(
            f"no CJK font found for the touchscreen (looked for "
            f"{shared.CJK_FONT_CANDIDATES[0]}): install the package fonts-wqy-microhei "
            f"(apt-get install -y fonts-wqy-microhei) or set COUNTERTOP_CJK_FONT"
        ) from exc
