"""A card reader that simulates cards at the APDU level, for tests, demos and laptops.

The EMV kernel is the same one the nfcpy reader runs; only the transport differs: a
``CardSession`` from a JSON profile answers the APDUs. One ``present`` is one tap: the card
is taken away when the read ends, whatever its outcome.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

from appliance.domain.card import CardRead
from appliance.emv.kernel import read_emv
from appliance.errors import (
    CardRemoved,
    MultipleCards,
    ReadCancelled,
    ReaderOffline,
    ReadTimeout,
)
from drivers.reader.base import ReadContext, ReaderStatus
from drivers.reader.profile import CardProfile, find_profile

_POLL = 0.02  # seconds between checks of the caller's cancel event while waiting


class MockReader:
    """``CardReader`` over simulated cards, with helpers to drive it from tests or a demo.

    ``auto_card`` (a profile name or path) is presented at each read when no card was
    presented explicitly, so the CLI and the demo "read" a card without anyone tapping.
    """

    def __init__(
        self,
        auto_card: str | CardProfile | None = None,
        *,
        cards_dir: Path | None = None,
        unpredictable_number: bytes | None = None,
    ) -> None:
        self._cards_dir = cards_dir
        self._auto = self._resolve(auto_card) if auto_card is not None else None
        self._un = unpredictable_number
        self._cond = threading.Condition()
        self._card: CardProfile | None = None
        self._plugged = True
        self.reads = 0  # completed read attempts that reached a card
        self.waiting = threading.Event()  # set while a read waits for a card (for tests)

    def _resolve(self, card: str | Path | CardProfile) -> CardProfile:
        if isinstance(card, CardProfile):
            return card
        return find_profile(card, self._cards_dir)

    # -- helpers ---------------------------------------------------------------------------

    def present(self, card: str | Path | CardProfile) -> CardProfile:
        """Put a card in the field (may be called from another thread while a read waits)."""
        profile = self._resolve(card)
        with self._cond:
            self._card = profile
            self._cond.notify_all()
        return profile

    def remove(self) -> None:
        """Take the card away before it was read."""
        with self._cond:
            self._card = None
            self._cond.notify_all()

    def unplug(self) -> None:
        """Simulate the reader being disconnected: status OFFLINE, reads raise ReaderOffline."""
        with self._cond:
            self._plugged = False
            self._cond.notify_all()

    def plug(self) -> None:
        """Reconnect the reader."""
        with self._cond:
            self._plugged = True
            self._cond.notify_all()

    # -- port ------------------------------------------------------------------------------

    def status(self) -> ReaderStatus:
        """READY or OFFLINE (never raises)."""
        return ReaderStatus.READY if self._plugged else ReaderStatus.OFFLINE

    def _offline(self) -> ReaderOffline:
        return ReaderOffline("card reader (mock) is unplugged; card payments are unavailable")

    def _wait_for_card(self, timeout: float, cancel: threading.Event | None) -> CardProfile:
        deadline = time.monotonic() + timeout
        with self._cond:
            if self._card is None and self._auto is not None and self._plugged:
                self._card = self._auto
            self.waiting.set()
            try:
                return self._wait_locked(deadline, cancel)
            finally:
                self.waiting.clear()

    def _wait_locked(self, deadline: float, cancel: threading.Event | None) -> CardProfile:
        while True:
            if not self._plugged:
                raise self._offline()
            if cancel is not None and cancel.is_set():
                raise ReadCancelled("card read cancelled")
            if self._card is not None:
                card, self._card = self._card, None
                return card
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ReadTimeout("no card was presented in time")
            # The caller's Event cannot wake this Condition, so wake up briefly to look.
            self._cond.wait(min(_POLL, remaining) if cancel is not None else remaining)

    def read_card(
        self, context: ReadContext, timeout: float, cancel: threading.Event | None = None
    ) -> CardRead:
        """Wait for a presented (or the auto) card and read it with the EMV kernel."""
        profile = self._wait_for_card(timeout, cancel)
        self.reads += 1
        if profile.collision:
            raise MultipleCards("more than one card: present only one card")
        session = profile.session()

        def transceive(apdu: bytes) -> bytes:
            if not self._plugged:
                raise self._offline()
            if cancel is not None and cancel.is_set():
                raise ReadCancelled("card read cancelled")
            response = session.transceive(apdu)
            if response is None:
                raise CardRemoved("card removed too early: hold the card still until the beep")
            return response

        card = read_emv(transceive, context, unpredictable_number=self._un)
        return replace(card, card_name=profile.name)

    def close(self) -> None:
        """Nothing to release."""
