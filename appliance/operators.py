"""Operators (操作员), supervisors (主管), technicians: numbers, PINs, lockout, the audit trail.

Roles, and what each may do (``require_role``)::

    operator     sales; sign in and out                            PIN of 4–12 digits
    supervisor   everything an operator may, plus voids, refunds,   PIN of 6–12 digits
                 reprints of other operators' stubs, settlement
    technician   setup: keys, config, operators, diagnostics        PIN of 6–12 digits
                 (not money: a technician cannot void or refund)

Operator numbers are two digits, ``00``–``99``, as on CUP terminals (where ``00`` is
conventionally the supervisor and ``99`` the administrator; here roles are not tied to numbers).
PINs are digits only because they are typed on the touchscreen keypad.

PINs are stored as ``scrypt$n$r$p$salt$hash`` (base64, 16-byte random salt, n=2**14, r=8, p=1,
32-byte key) and compared in constant time. Five wrong PINs in a row lock the number for
``lockout`` (15 minutes by default); a correct PIN resets the count. Every privileged action and
every login outcome is written to the ``audit`` table in the same SQLite transaction as the
change it records; PINs and hashes never appear in the audit detail or in any message.

Storage is the journal: ``appliance.journal.operators`` holds the SQL, and every change is
written in one journal unit of work with its audit row and lockout counter. The wrong-PIN count is
checked and incremented in one SQLite write transaction, so parallel attempts (threads or
processes) cannot all see the same count: the number locks after exactly five, whatever the
interleaving.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from appliance.domain.roles import RoleRefused
from appliance.errors import ConfigError, NotFound, Refused
from appliance.journal import Journal
from appliance.journal.operators import OperatorRecords, OperatorRow

MAX_FAILURES = 5
DEFAULT_LOCKOUT = timedelta(minutes=15)
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_BYTES, KEY_BYTES = 16, 32
MAX_PIN_DIGITS = 12

_NUMBER = re.compile(r"[0-9]{2}")
_PIN = re.compile(r"[0-9]+")


class Role(StrEnum):
    """What an operator may do; see the module docstring for the rights of each."""

    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    TECHNICIAN = "technician"


MIN_PIN_DIGITS: dict[Role, int] = {Role.OPERATOR: 4, Role.SUPERVISOR: 6, Role.TECHNICIAN: 6}

# Which roles satisfy a required role. Supervisors cover operators' work; technicians are kept
# apart from money on purpose (separation of duties), and no one else does a technician's job.
_SATISFIES: dict[Role, frozenset[Role]] = {
    Role.OPERATOR: frozenset({Role.OPERATOR, Role.SUPERVISOR}),
    Role.SUPERVISOR: frozenset({Role.SUPERVISOR}),
    Role.TECHNICIAN: frozenset({Role.TECHNICIAN}),
}


class LoginRefused(Refused):
    """Wrong operator number or PIN, or the number is locked; the message says what is left."""

    def __init__(
        self,
        message: str,
        remaining: int | None = None,
        locked_until: datetime | None = None,
    ) -> None:
        super().__init__(message)
        self.remaining = remaining
        self.locked_until = locked_until


@dataclass(frozen=True)
class Operator:
    """A person who may use the terminal (never carries the PIN or its hash)."""

    number: str
    name: str
    role: Role
    failed_attempts: int = 0
    locked_until: datetime | None = None


def hash_pin(pin: str, *, salt: bytes | None = None) -> str:
    """The self-describing scrypt encoding of ``pin`` with a fresh random salt."""
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    key = hashlib.scrypt(
        pin.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=KEY_BYTES
    )
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(key).decode()}"


def verify_pin(pin: str, encoded: str) -> bool:
    """True when ``pin`` matches ``encoded`` (parameters are read from the encoding)."""
    try:
        scheme, n, r, p, salt_b64, key_b64 = encoded.split("$")
        if scheme != "scrypt":
            return False
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(key_b64)
        key = hashlib.scrypt(
            pin.encode(), salt=salt, n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except ValueError:
        # A damaged hash must refuse the login, not crash the sign-in screen.
        return False
    return hmac.compare_digest(key, expected)


# Verifying against this when the number is unknown keeps "no such operator" as slow as a wrong
# PIN. Computed on first use, not at import.
_dummy_hash: str | None = None


def _burn_time(pin: str) -> None:
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = hash_pin("0000")
    verify_pin(pin, _dummy_hash)


def validate_number(number: str) -> str:
    """``number`` if it is a two-digit operator number, else ConfigError."""
    if not _NUMBER.fullmatch(number):
        raise ConfigError(f"operator number {number!r} must be two digits, 00 to 99")
    return number


def validate_pin(pin: str, role: Role) -> str:
    """``pin`` if it is long enough for ``role``, else ConfigError (the PIN is never echoed)."""
    low = MIN_PIN_DIGITS[role]
    if not _PIN.fullmatch(pin) or not low <= len(pin) <= MAX_PIN_DIGITS:
        raise ConfigError(f"a {role} PIN must be {low} to {MAX_PIN_DIGITS} digits")
    return pin


def parse_role(value: str) -> Role:
    """The Role named ``value``, else ConfigError listing the valid names."""
    try:
        return Role(value)
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise ConfigError(f"unknown role {value!r}: use one of {names}") from None


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _local(moment: datetime) -> str:
    """A time as a shopkeeper reads it: local wall clock, minutes."""
    return moment.astimezone().strftime("%H:%M")


class OperatorStore:
    """Operators and their PINs in the journal, with lockout and auditing.

    Each method that changes something commits it together with its audit row, in one journal
    unit. ``by`` names who acted: an operator number from the UI, or e.g. ``"cli:root"`` from
    the command line. ``clock`` returns an aware datetime and is injectable so lockout can be
    tested without sleeps.
    """

    def __init__(
        self,
        journal: Journal,
        clock: Callable[[], datetime] = _utc_now,
        lockout: timedelta = DEFAULT_LOCKOUT,
        max_failures: int = MAX_FAILURES,
    ) -> None:
        self._journal = journal
        self._clock = clock
        self._lockout = lockout
        self._max_failures = max_failures

    # -- administration ------------------------------------------------------------------------

    def add(self, number: str, name: str, role: Role | str, password: str, *, by: str) -> Operator:
        """Create an operator; Refused if the number is taken, ConfigError if input is invalid."""
        number = validate_number(number)
        role = parse_role(str(role))
        name = name.strip()
        if not name:
            raise ConfigError("an operator needs a name")
        validate_pin(password, role)
        encoded = hash_pin(password)
        now = _iso(self._clock())
        with self._journal.unit() as uow:
            records = OperatorRecords(uow)
            if not records.insert(number, name, role.value, encoded, now):
                raise Refused(f"operator {number} already exists")
            records.audit(now, by, "operator.add", f"{number} {name} ({role})")
            uow.commit()
        return Operator(number, name, role)

    def list(self) -> list[Operator]:
        """Every operator, by number."""
        with self._journal.unit() as uow:
            rows = OperatorRecords(uow).all()
        return [self._operator(row) for row in rows]

    def get(self, number: str) -> Operator:
        """The operator with ``number``; NotFound if there is none."""
        with self._journal.unit() as uow:
            row = OperatorRecords(uow).get(number)
        if row is None:
            raise NotFound(f"no operator {number}")
        return self._operator(row)

    def remove(self, number: str, *, by: str) -> None:
        """Delete an operator; NotFound if there is none. Past audit rows keep the number."""
        number = validate_number(number)
        now = _iso(self._clock())
        with self._journal.unit() as uow:
            records = OperatorRecords(uow)
            row = records.get(number)
            if row is None or not records.delete(number):
                raise NotFound(f"no operator {number}")
            records.audit(now, by, "operator.remove", f"{number} {row.name} ({row.role})")
            uow.commit()

    def reset_password(self, number: str, new: str, *, by: str) -> None:
        """Set a new PIN and clear any lockout; NotFound if there is no such operator."""
        operator = self.get(validate_number(number))
        validate_pin(new, operator.role)
        encoded = hash_pin(new)  # slow: hashed before the journal's write lock is taken
        now = _iso(self._clock())
        with self._journal.unit() as uow:
            records = OperatorRecords(uow)
            if records.get(number) is None:
                raise NotFound(f"no operator {number}")
            records.set_password(number, encoded, now)
            records.audit(now, by, "operator.reset-password", number)
            uow.commit()

    # -- sign-in -------------------------------------------------------------------------------

    def authenticate(self, number: str, password: str) -> Operator:
        """The operator if the PIN is right; LoginRefused (remaining tries or lock end) if not.

        The PIN is verified (scrypt, tens of milliseconds) outside the journal's write lock; the
        decision is then taken in one write transaction that re-reads the count and the lock,
        so an attempt that raced a lock is refused as locked and never counted twice.
        """
        now = self._clock()
        with self._journal.unit() as uow:
            seen = OperatorRecords(uow).get(number)
        checked, right = None, False  # the hash the PIN was verified against, and the result
        if seen is None:
            _burn_time(password)
        elif self._lock_end(seen, now) is None:
            checked, right = seen.password_hash, verify_pin(password, seen.password_hash)
        # else: the PIN is not even checked: guessing must not continue during a lock.
        refusal: LoginRefused | None = None
        with self._journal.unit() as uow:
            records = OperatorRecords(uow)
            row = records.get(number)
            at = _iso(now)
            if row is None:
                records.audit(at, number, "login.refused", "unknown operator number")
                refusal = LoginRefused("wrong operator number or PIN")
            elif (locked_until := self._lock_end(row, now)) is not None:
                records.audit(at, number, "login.refused", "locked")
                refusal = LoginRefused(
                    f"operator {number} is locked until {_local(locked_until)} after "
                    f"{self._max_failures} wrong PINs; a supervisor or technician can reset it",
                    remaining=0,
                    locked_until=locked_until,
                )
            else:
                if row.password_hash != checked:  # the PIN was reset (or added) meanwhile
                    right = verify_pin(password, row.password_hash)
                refusal = self._count(records, row, right, now)
            uow.commit()
        if refusal is not None:
            raise refusal
        assert row is not None
        return Operator(row.number, row.name, Role(row.role))

    def _count(
        self, records: OperatorRecords, row: OperatorRow, right: bool, now: datetime
    ) -> LoginRefused | None:
        """Reset or increment the wrong-PIN count of an unlocked operator, with its audit rows."""
        at = _iso(now)
        if right:
            records.set_failures(row.number, 0, None)
            records.audit(at, row.number, "login")
            return None
        # An expired lock leaves the old count behind: a fresh set of attempts starts.
        failures = (0 if row.locked_until is not None else row.failed_attempts) + 1
        remaining = max(self._max_failures - failures, 0)
        locked_until = now + self._lockout if remaining == 0 else None
        records.set_failures(row.number, failures, _iso(locked_until) if locked_until else None)
        records.audit(at, row.number, "login.refused", f"wrong PIN ({failures} in a row)")
        if locked_until is not None:
            records.audit(at, row.number, "operator.locked", f"until {_iso(locked_until)}")
            return LoginRefused(
                f"wrong PIN; operator {row.number} is now locked until {_local(locked_until)}",
                remaining=0,
                locked_until=locked_until,
            )
        tries = "try" if remaining == 1 else "tries"
        return LoginRefused(f"wrong PIN; {remaining} {tries} left", remaining=remaining)

    @staticmethod
    def _lock_end(row: OperatorRow, now: datetime) -> datetime | None:
        """When the lock on ``row`` ends, or None if it is not locked at ``now``."""
        if row.locked_until is None:
            return None
        until = datetime.fromisoformat(row.locked_until)
        return until if now < until else None

    def require_role(self, op: Operator, role: Role | str, action: str = "") -> None:
        """Return if ``op`` may act as ``role``; else audit the refusal and raise RoleRefused."""
        needed = parse_role(str(role))
        if op.role in _SATISFIES[needed]:
            return
        what = action or f"{needed} action"
        self.audit(op.number, "role.refused", f"{what} needs {needed}")
        raise RoleRefused(
            f"{what} needs a {needed}; operator {op.number} is a {op.role}",
            code="role.refused" if needed == "supervisor" else "role.technician_only",
            params={"action": what, "role": str(needed), "number": op.number},
        )

    def audit(self, by: str, action: str, detail: str = "") -> None:
        """Record a privileged action done elsewhere (void, refund, settlement, key load)."""
        with self._journal.unit() as uow:
            OperatorRecords(uow).audit(_iso(self._clock()), by, action, detail)
            uow.commit()

    # -- internals -----------------------------------------------------------------------------

    @staticmethod
    def _operator(row: OperatorRow) -> Operator:
        return Operator(
            row.number,
            row.name,
            Role(row.role),
            row.failed_attempts,
            datetime.fromisoformat(row.locked_until) if row.locked_until else None,
        )
