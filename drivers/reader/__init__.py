"""Contactless card reader port (``base``), nfcpy implementation and APDU-level mock."""

from __future__ import annotations

from pathlib import Path

from appliance.errors import ConfigError
from drivers.reader.base import CardReader

BACKENDS = ("mock", "nfcpy")


def make_reader(
    backend: str,
    *,
    device: str = "",
    mock_card: str | None = None,
    cards_dir: Path | None = None,
) -> CardReader:
    """Build the configured reader: ``"nfcpy"`` (real device) or ``"mock"`` (simulated cards).

    An unknown backend is a ``ConfigError``: a terminal never falls back to the mock.
    Nothing is opened here; the nfcpy device is opened on the first status or read.
    """
    if backend == "nfcpy":
        from drivers.reader.nfc import DEFAULT_DEVICE, NfcReader

        return NfcReader(device or DEFAULT_DEVICE)
    if backend == "mock":
        from drivers.reader.mock import MockReader

        return MockReader(mock_card, cards_dir=cards_dir)
    raise ConfigError(f"unknown reader backend {backend!r} (choose one of: {', '.join(BACKENDS)})")
