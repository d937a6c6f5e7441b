"""What a card read, the kernel's decision or the journal's storage tells a person: codes.

The kernel raises ``CardReadError(code=..., params=...)`` and the services return outcomes
with the same code; the text a person reads is the msgid below translated through the
gettext catalogs (``ui/locale/<lang>/LC_MESSAGES/countertop.mo``). ``ui.i18n.extract_msgids``
collects these msgids with the touchscreen's, so ``python -m ui.i18n extract`` keeps them
and the catalog test fails when one lacks a Chinese translation.
"""

from __future__ import annotations

import gettext
from functools import lru_cache
from pathlib import Path
from typing import Any

DOMAIN = "countertop"
LOCALE_DIR = Path(__file__).resolve().parents[2] / "ui" / "locale"

# code → English msgid. ``{name}`` placeholders are filled from the error's params.
MESSAGES: dict[str, str] = {
    "card.retry": "The card could not be read: present it again",
    "card.cancelled": "Card read cancelled",
    "card.timeout": "No card was presented in time",
    "card.multiple": "More than one card in the field: present only one card",
    "reader.offline": "The card reader is not connected: check its cable and power",
    "card.removed": "Card removed too early: hold the card still until the beep",
    "card.unreadable": "This card cannot be read here: use another card",
    "card.no_contactless": (
        "This card has no contactless payment application: use another card or payment method"
    ),
    "card.unsupported_kernel": (
        "This card's contactless application is not supported here: use another card or "
        "payment method"
    ),
    "card.gpo_conditions": (
        "The card refuses to pay contactless here (status {sw}): use the chip in a contact "
        "terminal or another payment method"
    ),
    "card.gpo_blocked": (
        "The card's payment application is blocked (status {sw}): use another card"
    ),
    "card.gpo_not_allowed": (
        "The card or phone does not allow this payment now (status {sw}): unlock the phone "
        "and tap again, or use another payment method"
    ),
    "card.gpo_unsupported": (
        "The card does not support this payment (status {sw}): use another card"
    ),
    "card.over_contactless_limit": (
        "{amount} is above the contactless limit of {limit}: use another payment method"
    ),
    "card.pin_required": (
        "The card asks for a PIN, which this terminal cannot take: use another payment method"
    ),
    "card.cvm_failed": (
        "Above {limit} the card must allow a signature or verification on the phone, and it "
        "did not: use another payment method"
    ),
    "card.declined_by_card": (
        "Declined by the card itself (no request was sent to the bank): use another card or "
        "payment method"
    ),
    "card.offline_expired": (
        "The bank is unreachable and an expired or not yet valid card cannot be accepted "
        "offline: nothing was charged"
    ),
    "card.offline_online_required": (
        "The bank is unreachable and the card requires the bank's approval: nothing was "
        "charged, try again when the link is back"
    ),
    "card.offline_tvr": (
        "The bank is unreachable and the terminal's checks of this card do not allow it "
        "offline: nothing was charged"
    ),
    # The journal's storage (appliance.services.storage, docs/storage.md).
    "storage.reserve": (
        "Only {free_kib} KiB free in {directory} (the reserve is {reserve_kib} KiB): new "
        "payments are refused so that every payment can be recorded. Nothing was sent or "
        "charged: free space, then try again"
    ),
    "storage.not_recorded": (
        "The terminal cannot write its journal ({free_kib} KiB free in {directory}): nothing "
        "was sent or charged. Free space, then try again"
    ),
    "storage.unrecorded_reversed": (
        "The terminal could not record the bank's answer ({free_kib} KiB free in {directory}), "
        "so the payment was reversed at once: nothing is charged. Free space, then take the "
        "payment again"
    ),
    "storage.unrecorded_reversal_owed": (
        "The terminal could not record the bank's answer ({free_kib} KiB free in {directory}) "
        "and the bank did not confirm the reversal yet: the card may be charged until it does. "
        "Do not take the payment again: free space, then run countertop forward (or wait) "
        "until status shows no reversal owed"
    ),
    "storage.unrecorded_declined": (
        "Declined by the bank ({response_code}); the terminal could not record it "
        "({free_kib} KiB free in {directory}). Nothing is charged: free space"
    ),
}


def english(code: str, params: dict[str, Any] | None = None) -> str:
    """The English text of ``code`` (the msgid with its placeholders filled)."""
    return _fill(MESSAGES.get(code, MESSAGES["card.retry"]), params or {})


def translate(code: str, params: dict[str, Any] | None, language: str) -> str:
    """The text of ``code`` in ``language`` ("zh_CN" or "en") from the gettext catalogs."""
    msgid = MESSAGES.get(code, MESSAGES["card.retry"])
    return _fill(_catalog(language).gettext(msgid), params or {})


def _fill(template: str, params: dict[str, Any]) -> str:
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        # A translation with a broken placeholder must still say something useful.
        return template


@lru_cache(maxsize=4)
def _catalog(language: str) -> gettext.NullTranslations:
    return gettext.translation(DOMAIN, LOCALE_DIR, [language], fallback=True)
