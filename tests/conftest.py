"""Shared fixtures: a demo shop (config + reference acquirer on loopback + terminal)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")


@pytest.fixture(params=["iso87", "cup"])
def dialect(request: pytest.FixtureRequest) -> str:
    """The host dialect under test."""
    return str(request.param)


@pytest.fixture
def shop(tmp_path: Path, dialect: str) -> Iterator[object]:
    """A signed-on demo shop; closed after the test."""
    from tests.shop import open_shop

    s = open_shop(tmp_path, dialect=dialect)
    s.terminal.sign_on("01")
    yield s
    s.close()
