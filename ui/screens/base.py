"""The screen base class lives in ``ui.screen`` (outside this package, so the app can use it
without importing any screen); it is re-exported here for the screens."""

from ui.screen import Screen

__all__ = ["Screen"]
