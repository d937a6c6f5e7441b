"""The touchscreen application (pygame-ce)."""
