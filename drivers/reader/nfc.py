"""The nfcpy card reader: a PN532 (or any nfcpy device) running the EMV contactless kernel.

The device is opened lazily and re-opened after a failure, so an unplugged reader reports
OFFLINE and comes back by itself once it is plugged in again. nfcpy's exceptions never leave
this module: they become ``CardReadError`` subclasses or ``ReaderOffline``.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from appliance.domain.card import CardRead
from appliance.emv.kernel import read_emv
from appliance.errors import (
    CardReadError,
    CardRemoved,
    ConfigError,
    ReadCancelled,
    ReaderOffline,
    ReadTimeout,
    UnsupportedCard,
)
from drivers.reader.base import ReadContext, ReaderStatus

log = logging.getLogger(__name__)

DEFAULT_DEVICE = "tty:AMA0:pn532"


def check_device_path(device: str) -> str:
    """Validate an nfcpy device path (``tty:AMA0:pn532``, ``usb:…``, ``udp:host:port``).

    The rule is the config's (``appliance.config.nfc_device``), so ``--device`` and
    ``reader.device`` accept the same paths.
    """
    from appliance.config import nfc_device

    try:
        return nfc_device(device)
    except ValueError as exc:
        raise ConfigError(f"reader device {device!r} is not {exc}") from None


class NfcReader:
    """``CardReader`` on nfcpy's ``ContactlessFrontend``.

    ``targets`` are the technologies polled (EMV cards are ISO 14443 A or B).
    ``frontend_factory`` exists for tests: it takes the device path and returns an opened
    frontend, raising ``OSError`` when the device is absent. While the device is absent,
    ``status()`` tries to re-open it at most every ``retry_interval`` seconds (an attempt on
    a serial port can take a second); ``read_card`` always tries.
    """

    def __init__(
        self,
        device: str = DEFAULT_DEVICE,
        *,
        targets: Sequence[str] = ("106A", "106B"),
        frontend_factory: Callable[[str], Any] | None = None,
        unpredictable_number: bytes | None = None,
        retry_interval: float = 5.0,
    ) -> None:
        self.device = check_device_path(device)
        self._retry_interval = retry_interval
        self._last_attempt = float("-inf")
        self._targets = list(targets)
        self._factory = frontend_factory or _open_frontend
        self._un = unpredictable_number
        self._clf: Any = None
        self._lock = threading.Lock()  # one owner thread, but status() may come from the UI
        self._last_error = ""

    def _ensure_open(self) -> Any:
        if self._clf is None:
            self._last_attempt = time.monotonic()
            try:
                self._clf = self._factory(self.device)
                log.info("card reader opened on %s", self.device)
            except (OSError, ValueError, ImportError) as exc:
                self._last_error = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
                raise ReaderOffline(
                    f"card reader not found on {self.device} ({self._last_error}); "
                    "check its cable and power"
                ) from exc
        return self._clf

    def _drop(self) -> None:
        clf, self._clf = self._clf, None
        if clf is not None:
            try:
                clf.close()
            except Exception:  # closing a vanished device may fail in many ways; ignore
                log.debug("closing the reader failed", exc_info=True)

    def status(self) -> ReaderStatus:
        """READY when the device is (or can be re-)opened, else OFFLINE. Never raises."""
        if not self._lock.acquire(blocking=False):
            return ReaderStatus.READY  # a read is running, so the device is open
        try:
            if self._clf is None and (time.monotonic() - self._last_attempt < self._retry_interval):
                return ReaderStatus.OFFLINE  # tried a moment ago; don't block the caller again
            self._ensure_open()
            return ReaderStatus.READY
        except ReaderOffline:
            return ReaderStatus.OFFLINE
        finally:
            self._lock.release()

    def read_card(
        self, context: ReadContext, timeout: float, cancel: threading.Event | None = None
    ) -> CardRead:
        """Poll for a card until ``timeout`` or ``cancel``, then read it."""
        with self._lock:
            clf = self._ensure_open()
            tag = self._wait_for_tag(clf, timeout, cancel)
            try:
                return self._read_tag(tag, context, cancel)
            finally:
                self._release(clf)

    def _wait_for_tag(self, clf: Any, timeout: float, cancel: threading.Event | None) -> Any:
        import nfc.tag.tt4

        deadline = time.monotonic() + timeout

        def terminate() -> bool:
            return (cancel is not None and cancel.is_set()) or time.monotonic() >= deadline

        options = {
            "targets": self._targets,
            "on-connect": lambda tag: False,  # return the tag; we drive it ourselves
            "iterations": 1,
            "interval": 0.05,
            "beep-on-connect": False,
        }
        try:
            result = clf.connect(rdwr=options, terminate=terminate)
        except OSError as exc:
            self._drop()
            raise ReaderOffline(f"card reader on {self.device} stopped responding") from exc
        except Exception as exc:
            # nfcpy's tag activation trusts the card's answers (a short ATS is an IndexError):
            # a card that answers badly is a failed read, not a broken reader.
            log.warning("activating the card failed: %r", exc)
            raise CardReadError(
                "card read error: the card answered badly; present it again"
            ) from exc
        if result is None or result is False:
            if cancel is not None and cancel.is_set():
                raise ReadCancelled("card read cancelled")
            if time.monotonic() >= deadline:
                raise ReadTimeout("no card was presented in time")
            # connect() swallows IOError and returns False: the device went away.
            self._drop()
            raise ReaderOffline(f"card reader on {self.device} stopped responding")
        if not isinstance(result, nfc.tag.tt4.Type4Tag):
            raise UnsupportedCard("unsupported card: this is not a contactless payment card")
        return result

    def _read_tag(self, tag: Any, context: ReadContext, cancel: threading.Event | None) -> CardRead:
        import nfc.clf
        import nfc.tag

        def transceive(apdu: bytes) -> bytes:
            if cancel is not None and cancel.is_set():
                raise ReadCancelled("card read cancelled")
            try:
                return bytes(tag.transceive(bytearray(apdu)))
            except nfc.tag.TagCommandError as exc:
                if exc.errno in (nfc.tag.TIMEOUT_ERROR, nfc.tag.RECEIVE_ERROR):
                    raise CardRemoved(
                        "card removed too early: hold the card still until the beep"
                    ) from exc
                raise CardReadError("card read error: present the card again") from exc
            except nfc.clf.BrokenLinkError as exc:
                raise CardRemoved(
                    "card removed too early: hold the card still until the beep"
                ) from exc
            except nfc.clf.CommunicationError as exc:
                raise CardReadError("card read error: present the card again") from exc
            except OSError as exc:
                self._drop()
                raise ReaderOffline(
                    f"card reader on {self.device} stopped responding during the read"
                ) from exc

        return read_emv(transceive, context, unpredictable_number=self._un)

    def _release(self, clf: Any) -> None:
        # Switch the RF field off so the card resets before the next tap.
        device = getattr(clf, "device", None)
        if device is not None:
            try:
                device.mute()
            except Exception:
                log.debug("muting the reader failed", exc_info=True)

    def close(self) -> None:
        """Close the device (it is re-opened on the next status or read)."""
        with self._lock:
            self._drop()


def _open_frontend(device: str) -> Any:
    try:
        import nfc
    except ImportError as exc:  # pragma: no cover - nfcpy is a dependency
        raise ImportError("nfcpy is not installed") from exc
    clf = nfc.ContactlessFrontend()
    try:
        found = clf.open(device)
    except OSError:
        raise
    except Exception as exc:  # e.g. a driver that chokes on a non-PN532 serial device
        raise OSError(errno.ENODEV, f"no usable reader ({exc})") from exc
    if not found:
        raise OSError(errno.ENODEV, "no reader answered")
    return clf
