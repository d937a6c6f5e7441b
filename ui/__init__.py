"""The touchscreen application (pygame-ce)."""

import os

# pygame prints a banner to stdout on import; `--json` output and logs must not start with it.
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
