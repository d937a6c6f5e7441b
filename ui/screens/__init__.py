"""Screens of the touchscreen application.

Importing the package imports every screen module, and each registers the screens the app
opens by name (``ui.registry``).
"""

from ui.screens import admin, common, sale, system

__all__ = ["admin", "common", "sale", "system"]
