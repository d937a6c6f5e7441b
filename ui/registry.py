"""The screen registry: how the app opens a screen by name without importing the screens.

The screens import the app (they drive it); the app never imports a screen module, so the two
do not import each other (an import-linter contract keeps it so). A screen module registers
the screens the app must open itself (``signin``, ``status``, ``message``, ``home``) with
``@register("name")``; ``load()`` imports the package ``ui.screens`` once, which imports
every screen module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ui.screen import Screen

Factory = Callable[..., "Screen"]

_SCREENS: dict[str, Factory] = {}
SCREENS_PACKAGE = "ui.screens"


def register(name: str) -> Callable[[Factory], Factory]:
    """Class (or function) decorator: ``make(name, app, ...)`` builds it from now on."""

    def deco(factory: Factory) -> Factory:
        if name in _SCREENS and _SCREENS[name] is not factory:
            raise ValueError(f"screen {name!r} is registered twice")
        _SCREENS[name] = factory
        return factory

    return deco


def load() -> None:
    """Import the screens package (each module registers its screens on import)."""
    importlib.import_module(SCREENS_PACKAGE)


def make(name: str, app: Any, *args: Any, **kwargs: Any) -> Screen:
    """A new screen ``name`` for ``app``; KeyError naming the known screens if none."""
    if name not in _SCREENS:
        load()
    try:
        factory = _SCREENS[name]
    except KeyError:
        known = ", ".join(sorted(_SCREENS)) or "none"
        raise KeyError(f"no screen registered as {name!r} (registered: {known})") from None
    return factory(app, *args, **kwargs)


def names() -> list[str]:
    """The registered screen names (after ``load()``)."""
    return sorted(_SCREENS)


def factories() -> dict[str, Factory]:
    """The registered screens by name (after ``load()``)."""
    return dict(_SCREENS)
