"""Screens of the touchscreen application."""
