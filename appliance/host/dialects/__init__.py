"""ISO 8583 dialects by name: ``get_dialect("iso87")`` or ``get_dialect("cup")``.

A dialect is a ``Profile`` (pure data: pyiso8583 spec, field types, MTI/processing-code table,
item→field layout, framing) run through the one generic codec in ``base.Dialect`` (its layers: ``kinds``, ``items``,
``fields``, ``framing``, ``wire_time``).
"""

from __future__ import annotations

import importlib

from appliance.errors import ConfigError
from appliance.host.dialects.base import Dialect
from appliance.host.dialects.fields import FrameMacError
from appliance.host.dialects.framing import FrameReader
from appliance.host.dialects.profile import KindSpec, Profile

DIALECTS: dict[str, str] = {
    "iso87": "appliance.host.dialects.iso87",
    "cup": "appliance.host.dialects.cup",
}

__all__ = [
    "DIALECTS",
    "Dialect",
    "FrameMacError",
    "FrameReader",
    "KindSpec",
    "Profile",
    "get_dialect",
]


def get_dialect(name: str) -> Dialect:
    """The dialect called ``name``; ConfigError for a name this build does not know."""
    module = DIALECTS.get(name)
    if module is None:
        raise ConfigError(f"unknown host dialect {name!r}; known: {', '.join(sorted(DIALECTS))}")
    try:
        profile = importlib.import_module(module).PROFILE
    except ModuleNotFoundError as exc:
        raise ConfigError(f"host dialect {name!r} is not available in this build") from exc
    return Dialect(profile)
