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


def emit_json(obj: Any) -> None:
    """Print one JSON document (UTF-8, stable key order)."""
    json.dump(obj, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")
