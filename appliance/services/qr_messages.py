"""What a QR payment's outcome tells a person: codes with English msgids.

``QrOutcome.code`` is one of these codes and ``QrOutcome.params`` fills its placeholders; the
touchscreen and the CLI translate through the gettext catalogs
(``ui/locale/<lang>/LC_MESSAGES/countertop.mo``), as for card messages
(``appliance.emv.messages``). ``ui.i18n.extract_msgids`` collects these msgids too.
"""

from __future__ import annotations

import gettext
from functools import lru_cache
from pathlib import Path
from typing import Any

from appliance.domain.qr import wallet_label

DOMAIN = "countertop"
LOCALE_DIR = Path(__file__).resolve().parents[2] / "ui" / "locale"

MESSAGES: dict[str, str] = {
    "qr.approved": "Paid by {wallet}: {amount}",
    "qr.declined": "{wallet} refused the payment ({reason}): nothing was charged",
    "qr.cancelled": "The payment was not completed and is cancelled: nothing was charged",
    "qr.cancelled_refunded": (
        "The payment was not confirmed in time and is cancelled: the wallet returns the money"
    ),
    "qr.cancel_owed": (
        "The payment was not completed: its cancel is owed and is sent again until the gateway "
        "confirms it; do not hand over goods"
    ),
    "qr.unreachable": (
        "The QR gateway cannot be reached: nothing was charged and nothing is stored; use a card "
        "or try again when the network is back"
    ),
    "qr.bad_code": (
        "This is not a payment code: ask the customer to open the payment code (付款码) in WeChat, "
        "Alipay or a UnionPay app and scan again"
    ),
    "qr.off": "QR payments are not set up on this terminal (qr.gateway in the config)",
    "qr.user_paying": "Waiting for the customer to confirm on the phone: {seconds} s",
    "qr.show_code": "Ask the customer to scan this code to pay {amount}",
    "qr.refunded": "Refunded {amount} to the {wallet} payer",
    "qr.refund_owed": (
        "The refund of {amount} is being processed: it is sent again until the gateway confirms it"
    ),
    "qr.refund_unreachable": (
        "The QR gateway cannot be reached and the refund of {amount} was not sent: no money was "
        "returned, try again when the network is back"
    ),
    "qr.refund_declined": "The gateway refused the refund ({reason})",
    "qr.refund_too_much": "At most {left} can still be refunded on order {order}",
    "qr.nothing_left": "Order {order} has been refunded in full: nothing is left to refund",
    "qr.not_refundable": "Order {order} was not paid, so it cannot be refunded",
    "qr.not_found": "No QR order {order} in the journal",
    "qr.amount_invalid": "The amount must be greater than zero and at most {limit}",
    "qr.busy": "Another payment is in progress: wait for it to finish",
    "qr.pending": "The outcome of order {order} is not known yet",
}


def english(code: str, params: dict[str, Any] | None = None) -> str:
    """The English text of ``code``."""
    return _fill(MESSAGES.get(code, code), _localised(params or {}, "en"))


def translate(code: str, params: dict[str, Any] | None, language: str) -> str:
    """The text of ``code`` in ``language`` ("zh_CN" or "en") from the gettext catalogs."""
    msgid = MESSAGES.get(code, code)
    return _fill(_catalog(language).gettext(msgid), _localised(params or {}, language))


def _localised(params: dict[str, Any], language: str) -> dict[str, Any]:
    """``wallet`` is passed as the scheme name (ALIPAY…) and shown in ``language``."""
    if "wallet" in params:
        return {**params, "wallet": wallet_label(str(params["wallet"]), language)}
    return params


def _fill(template: str, params: dict[str, Any]) -> str:
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return template


@lru_cache(maxsize=4)
def _catalog(language: str) -> gettext.NullTranslations:
    return gettext.translation(DOMAIN, LOCALE_DIR, [language], fallback=True)
