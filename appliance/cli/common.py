"""Helpers shared by the command modules: config loading, JSON output, amounts."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from appliance.config import Config, load_config


def config_from(args: argparse.Namespace) -> Config:
    """The config named by ``--config`` (or the environment, or the system default)."""
    return load_config(getattr(args, "config", None))


def add_json(parser: argparse.ArgumentParser) -> None:
    """Add the ``--json`` flag."""
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


#: JSON documents printed by the running command (main prints an error document only if none).
_documents = 0


def reset_documents() -> None:
    """A new command starts (main may run several in one process, as the tests do)."""
    global _documents
    _documents = 0


def documents_written() -> int:
    """How many documents ``emit_json`` printed for the running command."""
    return _documents


def emit_json(obj: Any) -> None:
    """Print one JSON document (UTF-8, stable key order)."""
    global _documents
    _documents += 1
    json.dump(obj, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")
