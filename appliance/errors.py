"""The exception tree of countertop.

Every error a person can meet says what was wrong and what to do. Library exceptions are
translated at the adapter (``raise X(...) from exc``); builtins are never shadowed::

    CountertopError
    ├── ConfigError (ValueError)            bad config file, secrets or command-line input
    │   └── AmountError                     an amount that is not a valid sum of money
    ├── JournalError                        the journal database cannot be used
    │   ├── JournalWriteError                a write failed (disk full, I/O error); ``durable`` says
    │   │                                     whether the unit had committed before it failed
    │   ├── IllegalTransition (RuntimeError) a state change the state machine forbids (a bug)
    │   └── NotFound (LookupError)           no transaction matches the reference given
    ├── HostError                           talking to the acquirer failed
    │   ├── NotSent                          the request never left the terminal (safe to retry/store)
    │   ├── NoResponse                       the request was sent; the outcome is unknown (reverse it)
    │   │   └── MacError                     the response failed MAC verification (treated as none)
    │   ├── ProtocolError                    a frame could not be decoded or failed validation
    │   └── KeyCheckError                    a key's check value did not match
    ├── DeviceError                         a hardware port failed
    │   ├── CardReadError                    the card could not be read (reason for a person)
    │   │   ├── ReadCancelled                the operator cancelled the read
    │   │   ├── ReadTimeout                  no card was presented in time
    │   │   ├── CardRemoved                  the card left the field before the read finished
    │   │   ├── MultipleCards                more than one card is in the field
    │   │   └── UnsupportedCard              the card has no payment application this terminal takes
    │   ├── ReaderOffline                    the reader is unplugged or absent
    │   ├── ScanError                        the scanner gave no usable code (reason for a person)
    │   │   ├── ScanCancelled                the operator cancelled the scan
    │   │   ├── ScanTimeout                  no code was scanned in time
    │   │   └── ScannerOffline               the scanner is unplugged, absent or held elsewhere
    │   └── PrinterError                     a job may not have printed in full (status says why)
    │       └── PrinterNotReady              the printer could not print: nothing was sent
    └── Refused                             a business rule refused the operation (limits, state)
        ├── ReversalOwed                     a reversal must be delivered before new financial requests
        ├── LimitRefused                     an offline limit refused the payment (which, by how much)
        └── SettlementInProgress             another process is settling right now; nothing was done
"""

from __future__ import annotations


class CountertopError(Exception):
    """Root of every error countertop raises on purpose.

    ``str(exc)`` is the English reason for logs; ``code`` and ``params`` are what a screen, a
    stub or the CLI translates (``appliance.messages``). Subclasses carry a default code.
    """

    default_code = "error"

    def __init__(
        self, *args: object, code: str | None = None, params: dict[str, object] | None = None
    ) -> None:
        super().__init__(*args)
        self.code: str = code or self.default_code
        self.params: dict[str, object] = dict(params or {})


class ConfigError(CountertopError, ValueError):
    """A config file, secret or command-line value is invalid."""

    default_code = "config.invalid"


class AmountError(ConfigError):
    """An amount is not a valid sum of money in the configured currency."""


class JournalError(CountertopError):
    """The journal database cannot be opened, migrated or written."""

    default_code = "journal.error"


class JournalWriteError(JournalError):
    """A journal write failed (disk full, I/O error, read-only file system).

    ``durable`` is True only when the unit of work had committed before the failure; False
    means nothing of the unit was committed by this connection (SQLite rolled it back, or the
    terminal did). ``no_space`` is True for a full disk (SQLITE_FULL / ENOSPC).
    """

    def __init__(self, message: str, *, durable: bool, no_space: bool = False) -> None:
        super().__init__(message)
        self.durable = durable
        self.no_space = no_space


class IllegalTransition(JournalError, RuntimeError):
    """A transaction state change that the state machine does not allow (always a bug)."""


class NotFound(JournalError, LookupError):
    """No journal entry matches the reference given."""

    default_code = "not_found"


class HostError(CountertopError):
    """Talking to the acquirer host failed."""

    default_code = "host.error"


class NotSent(HostError):
    """The request never left the terminal: the host cannot have acted on it."""

    default_code = "host.not_sent"


class NoResponse(HostError):
    """The request was (or may have been) sent and no valid answer came: the outcome is unknown."""

    default_code = "host.no_response"


class MacError(NoResponse):
    """A response failed MAC verification; it is treated exactly like no response."""


class ProtocolError(HostError):
    """A frame could not be decoded, or its fields failed content/length validation."""


class KeyCheckError(HostError):
    """A cryptographic key's check value did not match the expected one."""


class DeviceError(CountertopError):
    """A device port (reader, printer, indicators) failed."""


class CardReadError(DeviceError):
    """The card could not be read; ``code`` (see ``appliance.emv.messages``) says why.

    ``str(exc)`` is the English reason; ``code`` and ``params`` are what a screen or stub
    translates. Subclasses carry their own default code.
    """

    default_code = "card.retry"


class ReadCancelled(CardReadError):
    """The card read was cancelled by the operator."""

    default_code = "card.cancelled"


class ReadTimeout(CardReadError):
    """No card was presented before the timeout."""

    default_code = "card.timeout"


class CardRemoved(CardReadError):
    """The card was taken away before the read finished; present it again and hold it still."""

    default_code = "card.removed"


class MultipleCards(CardReadError):
    """More than one card is in the field; present only one card."""

    default_code = "card.multiple"


class UnsupportedCard(CardReadError):
    """The card (or phone) offers no payment application this terminal accepts."""

    default_code = "card.unsupported_kernel"


class ReaderOffline(DeviceError):
    """The card reader is unplugged or absent; card payments are refused until it returns."""

    default_code = "reader.offline"


class ScanError(DeviceError):
    """The scanner gave no usable code; ``code`` (a message code) says why.

    ``str(exc)`` is the English reason for logs and the CLI; ``code`` and ``params`` are what a
    screen translates. The scanned content itself is never part of the message.
    """

    default_code = "scan.unreadable"

    def __init__(
        self, message: str = "", *, code: str | None = None, params: dict[str, object] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code or self.default_code
        self.params = dict(params or {})


class ScanCancelled(ScanError):
    """The scan was cancelled by the operator."""

    default_code = "scan.cancelled"


class ScanTimeout(ScanError):
    """No code was scanned before the timeout."""

    default_code = "scan.timeout"


class ScannerOffline(ScanError):
    """The scanner is unplugged, absent, not permitted or held by another program."""

    default_code = "scan.offline"


class PrinterError(DeviceError):
    """The printer cannot print now; ``status`` says why (paper out, cover open, offline)."""

    default_code = "printer.problem"

    def __init__(self, message: str, status: object | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.status = status


class PrinterNotReady(PrinterError):
    """The printer said it cannot print (or could not be reached) before a job: nothing of the
    job was sent, so it waits and prints later as if never tried."""


class Refused(CountertopError):
    """A business rule refused the operation; the message says which rule and why."""

    default_code = "refused"


class ReversalOwed(Refused):
    """A reversal is still owed to the host and must be delivered before a new financial request."""

    default_code = "reversal.owed"


class LimitRefused(Refused):
    """An offline limit refused the payment; the message names the limit and the excess."""

    default_code = "limit.refused"

    def __init__(self, message: str, limit: str, excess: int | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.limit = limit
        self.excess = excess


class SettlementInProgress(Refused):
    """Another process holds the settlement (CLI, timer, kiosk); this call did nothing at all."""
