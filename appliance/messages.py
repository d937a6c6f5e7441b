"""Every message a person reads, as a code: the one table and its translation.

Services raise errors (``CountertopError.code`` / ``.params``) and return outcomes
(``Outcome.code`` / ``.params``); the touchscreen and the CLI turn a code into text here, in
the language they show, through the gettext catalogs (``ui/locale/<lang>/LC_MESSAGES``).
The msgids are the English text; ``{name}`` placeholders are filled from the params. The card
and kernel codes live beside the kernel (``appliance.emv.messages``) and are part of this
table. A param ``rc`` (an ISO 8583 response code) adds ``reason`` and ``next`` from the one
response-code table (``appliance.domain.response_codes``), so screen, CLI and slip word a
code alike.
"""

from __future__ import annotations

import os
from typing import Any

from appliance.domain.response_codes import lookup
from appliance.emv.messages import MESSAGES as CARD_MESSAGES
from appliance.emv.messages import _catalog, _fill

SERVICE_MESSAGES: dict[str, str] = {
    # amounts
    "amount.not_positive": "Type an amount greater than zero",
    "amount.over_terminal_limit": (
        "{amount} is more than this terminal takes in one payment ({limit}): check the "
        "amount, or take the payment another way"
    ),
    # roles
    "role.refused": (
        "Only a supervisor may do this (operator {number} is not one): ask a supervisor to approve"
    ),
    "role.approval_missing": "This needs a supervisor's approval: ask a supervisor",
    "role.technician_only": (
        "Only a technician may do this (operator {number} is not one): call the technician"
    ),
    # reversals and the link
    "reversal.owed": (
        "A reversal must reach the bank before new payments: check the link, then Menu → "
        "Forward now"
    ),
    "void.needs_host": (
        "The bank cannot be reached and a void needs the bank: the sale stands, try again "
        "when the link is back"
    ),
    "refund.needs_host": (
        "The bank cannot be reached and a refund needs the bank: no money was returned, try "
        "again when the link is back"
    ),
    # finding a sale
    "txn.not_found": "No transaction with trace {trace}: check the number on the stub",
    "txn.rrn_not_found": "No transaction with reference {rrn}: check the number on the stub",
    "txn.not_a_sale": "Trace {trace} is not a sale: choose the sale itself",
    "void.not_in_batch": (
        "Sale {trace} is not in the open batch: after settlement a sale can only be refunded"
    ),
    "void.already_voided": "Sale {trace} is already voided: nothing to do",
    "void.not_approved": "Sale {trace} was not approved: only approved sales can be voided",
    "void.has_refund": (
        "Sale {trace} already has a refund or void: it cannot be voided, refund what is left"
    ),
    "refund.not_approved": "Sale {trace} was not approved: only approved sales can be refunded",
    "refund.too_much": (
        "At most {left} can still be refunded on sale {trace}: type a smaller amount"
    ),
    "refund.nothing_left": "Sale {trace} has been refunded in full: nothing is left to refund",
    "refund.wrong_card": (
        "This is not the card that paid sale {trace}: a refund goes back to that card "
        "({card}), present it"
    ),
    "reprint.not_found": "No stub with trace {trace}: check the number",
    "reprint.nothing_yet": "There is no stub to reprint yet",
    "reprint.none_on_date": "No stubs on {date}: check the date",
    # outcomes
    "txn.approved": "Approved",
    "txn.cancelled": "Cancelled: nothing was charged",
    "host.declined": "Declined by the bank ({rc}): {reason}. Next: {next}",
    "host.not_built": (
        "The request could not be built and was not sent; nothing changed: call the technician"
    ),
    "host.not_sent.sale": (
        "The bank could not be reached; nothing was charged: try again when the link is back"
    ),
    "host.not_sent.void": (
        "The bank could not be reached and the void was not sent: the sale stands, try again "
        "when the link is back"
    ),
    "host.not_sent.refund": (
        "The bank could not be reached and the refund was not sent: no money was returned, "
        "try again when the link is back"
    ),
    "host.no_answer.sale": (
        "No valid answer from the bank: the sale was reversed and nothing is charged. Try again"
    ),
    "host.no_answer.void": (
        "No valid answer from the bank: the void was reversed and the sale stands. Try the "
        "void again"
    ),
    "host.no_answer.refund": (
        "No valid answer from the bank: the refund was reversed and no money was returned. "
        "Try again"
    ),
    "host.mac": (
        "Answers from the bank fail the MAC check (keys out of step): the transaction was "
        "reversed. Technician: check that no other device signs on as TID {tid}, that the "
        "message format ({dialect}) is the acquirer's and that the master key matches"
    ),
    "host.unreachable": "The bank cannot be reached: check the network, then try again",
    "host.signon_refused": "Sign-on refused by the bank ({rc}): {reason}. Next: {next}",
    "offline.stored": (
        "Stored offline, pending authorization: it is sent to the bank when the link is back"
    ),
    "offline.refused.offline_enabled": (
        "The bank cannot be reached and offline payments are switched off: nothing was "
        "charged, try again when the link is back"
    ),
    "offline.refused.online_only_schemes": (
        "The bank cannot be reached and this card is accepted online only: nothing was "
        "charged, use another payment method"
    ),
    "offline.refused.offline_max_amount": (
        "The bank cannot be reached and {amount} is {over} above the offline limit of {limit}: "
        "nothing was charged, use another payment method"
    ),
    "offline.refused.offline_max_count": (
        "The bank cannot be reached and too many payments are already stored: nothing was "
        "charged, forward the stored payments first"
    ),
    "offline.refused.offline_max_total": (
        "The bank cannot be reached and the stored total would pass {limit}: nothing was "
        "charged, forward the stored payments first"
    ),
    "offline.refused.offline_max_age_hours": (
        "The bank cannot be reached and the oldest stored payment is too old: nothing was "
        "charged, forward the stored payments first"
    ),
    # devices and the rest
    "printer.problem": "The printer cannot print now: check paper and cover; it prints then",
    "not_found": "Nothing matches that number: check it and try again",
    "refused": "This cannot be done now: see the log for details",
    "error": "Something went wrong: see the log for details, then try again",
    "host.error": "The bank could not be reached: try again later",
    "host.not_sent": "The bank could not be reached; nothing was sent: try again later",
    "host.no_response": "No valid answer from the bank: try again",
    "config.invalid": "The terminal's setup is not valid: call the technician",
    "journal.error": "The terminal's records cannot be written: call the technician",
    "limit.refused": "A limit refused this payment: nothing was charged",
    "settle.in_progress": (
        "A settlement is already running (process {pid} since {since}): nothing was done; "
        "wait for it to finish"
    ),
    "settle.in_progress_batch": (
        "Batch {batch} is being settled already (uploaded {uploaded} of {total}; process "
        "{pid} since {since}): nothing was done; wait for it to finish"
    ),
    "settle.not_found": "Batch {batch} has no settlement on this terminal: check the number",
    "settle.owed": (
        "Not settled: {reversals} reversal(s) and {stored} stored payment(s) are still owed "
        "to the bank; the batch stays open. Check the link, forward them, then settle again"
    ),
    "settle.became_owed": (
        "Not settled: a message to the bank became owed while the batch was being closed; "
        "forward it, then settle again"
    ),
    "settle.payment_in_progress": (
        "Not settled: a payment of this batch is still in progress; wait for it, then settle again"
    ),
    "settle.already_settled": (
        "Batch {batch} was already settled: sign on to get a new batch number"
    ),
    "settle.cannot_build": (
        "The settlement of batch {batch} cannot be sent: the terminal's host settings do not "
        "fit it; call the technician"
    ),
    "settle.interrupted": (
        "The settlement of batch {batch} was interrupted: the bank did not answer. It is "
        "saved: settle again to resume"
    ),
    "settle.host_refused": (
        "The bank refused the settlement of batch {batch}: {rc} {reason}. Settle again later"
    ),
    "settle.journal_changed": (
        "Batch {batch} changed after its upload began: do not settle again, call support"
    ),
    "settle.upload_interrupted": (
        "The batch upload of batch {batch} stopped after {done} of {total}: it is saved; "
        "settle again to resume"
    ),
    "settle.upload_refused": (
        "The bank refused the batch upload of batch {batch}: {rc} {reason}. Settle again later"
    ),
    "settle.upload_end_refused": (
        "The bank refused the end of the batch upload of batch {batch}: {rc} {reason}. Call "
        "the acquirer"
    ),
}

MESSAGES: dict[str, str] = {**CARD_MESSAGES, **SERVICE_MESSAGES}


def msgid(code: str) -> str:
    """The English msgid of ``code`` (an unknown code reads as the generic error)."""
    return MESSAGES.get(code, MESSAGES["error"])


def translate(code: str, params: dict[str, Any] | None, language: str) -> str:
    """The text of ``code`` in ``language`` ("zh_CN" or "en"), params filled in."""
    values = dict(params or {})
    if "rc" in values:
        entry = lookup(str(values["rc"]))
        values.setdefault("reason", entry.meaning(language))
        values.setdefault("next", entry.next_step(language) or entry.meaning(language))
    return _fill(_catalog(language).gettext(msgid(code)), values)


def error_text(exc: BaseException, language: str) -> str:
    """What a person reads for ``exc``: its code translated (never ``str(exc)`` in Chinese).

    A code without its own msgid (an error raised without one) falls back to the English
    reason in English, and to the translated generic text of its class in Chinese.
    """
    code = str(getattr(exc, "code", "") or "error")
    params = dict(getattr(exc, "params", {}) or {})
    if code in MESSAGES and code not in _GENERIC:
        return translate(code, params, language)
    if not language.startswith("zh") and str(exc):
        return str(exc)
    return translate(code, params, language)


# Class-level codes: they say only what kind of error it was.
_GENERIC = frozenset(
    {
        "error",
        "refused",
        "not_found",
        "host.error",
        "host.not_sent",
        "host.no_response",
        "config.invalid",
        "journal.error",
        "limit.refused",
        "printer.problem",
    }
)


def is_generic(exc: BaseException) -> bool:
    """True when ``exc`` has no message of its own (only its class's generic code)."""
    code = str(getattr(exc, "code", "") or "error")
    return code in _GENERIC or code not in MESSAGES


def cli_language(config_language: str | None = None) -> str:
    """The CLI's language: ``LC_ALL`` / ``LC_MESSAGES`` / ``LANG`` if set, else the config's."""
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var, "")
        if value and value not in ("C", "POSIX") and not value.startswith("C."):
            return "zh_CN" if value.startswith("zh") else "en"
    if config_language:
        return "zh_CN" if config_language.startswith("zh") else "en"
    return "en"
