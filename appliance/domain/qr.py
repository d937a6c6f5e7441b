"""QR payments (扫码支付), pure: payment-code shapes, order numbers, order states, the
query-then-cancel decision, request signing and the masked payer reference.

Customer-presented codes (付款码) are recognised by their published shapes:

- WeChat Pay: 18 digits starting 10-15 ("用户付款码条形码规则:18位纯数字,以10、11、12、13、14、
  15开头", WeChat Pay micropay API, https://pay.weixin.qq.com/wiki/doc/api/micropay.php?chapter=5_1);
- Alipay: 16-24 digits starting 25-30 ("25~30开头的长度为16~24位的数字", Alipay
  alipay.trade.pay auth_code, https://opendocs.alipay.com/open/194/106039);
- UnionPay QR (银联二维码付款码): 19 digits starting 62 (the UnionPay cloud QuickPass C2B
  code; the shape every published validator uses, e.g. cnblogs.com/zhangmo/p/13578409.html).

The published barcode-pay rule (WeChat Pay micropay "USERPAYING", Alipay 当面付 "10003 等待
用户付款", GUIDE §5): when the pay answer is unknown or the customer must still confirm, query
every 3-5 s for up to about 60 s; if the order is still not paid, cancel (撤销) immediately after
the last query, and repeat the cancel until it is acknowledged. ``next_step`` is that rule.

Request signing follows the WeChat Pay v2 HMAC-SHA256 rule (接口规则 → 安全规范,
https://pay.weixin.qq.com/wiki/doc/api/micropay.php?chapter=4_3): parameters with non-empty
values, sorted by name (ASCII), joined ``k=v&…``, then ``&key=KEY``; HMAC-SHA256 with the key
over that string, upper-case hex. The payment code is never logged, stored or printed: only
``Wallet`` and the gateway's (masked) payer reference are kept.

Order states on the terminal::

    PENDING      committed before the pay request leaves; the outcome is not yet known
    PAYING       the gateway said "user paying" or did not answer: the query loop runs
    SUCCESS      the gateway says paid (TRADE_SUCCESS); refunds may follow
    DECLINED     the gateway refused it definitively (bad code, no funds, closed): no money moved
    NOT_SENT     the request never reached the gateway: no money moved, nothing stored
    CANCEL_OWED  the loop ended without a definite answer: a cancel is owed until acknowledged
    CANCELLED    the gateway acknowledged the cancel (closed, or refunded if it had been paid)

Refund rows (``kind = "refund"``) go PENDING → SUCCESS | DECLINED, or REFUND_OWED while the
gateway answers "processing" or nothing (the refund is repeated with its own refund number,
which the gateway treats idempotently, until it is final).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from appliance.errors import ConfigError, IllegalTransition


class Wallet(StrEnum):
    """Who issued a QR payment; the value is the scheme name on reports and statements."""

    WECHAT = "WECHATPAY"
    ALIPAY = "ALIPAY"
    UNIONPAY_QR = "UNIONPAYQR"


WALLET_LABELS: dict[Wallet, tuple[str, str]] = {
    Wallet.WECHAT: ("WeChat Pay", "微信支付"),
    Wallet.ALIPAY: ("Alipay", "支付宝"),
    Wallet.UNIONPAY_QR: ("UnionPay QR", "银联二维码"),
}

QR_SCHEMES: tuple[str, ...] = tuple(w.value for w in Wallet)


def wallet_label(wallet: str, lang: str = "en") -> str:
    """The wallet's name for a person ("WeChat Pay" / "微信支付")."""
    try:
        en, zh = WALLET_LABELS[Wallet(wallet)]
    except ValueError:
        return wallet
    return zh if lang.startswith("zh") else en


class BadPaymentCode(ConfigError):
    """A scanned payment code has none of the published wallet shapes (the code is not quoted)."""


def classify_code(code: str) -> Wallet:
    """The wallet whose published shape ``code`` has; BadPaymentCode (never quoting it) if none.

    Whitespace and a trailing CR/LF from a keyboard-wedge scanner are stripped first.
    """
    c = code.strip()
    n = len(c)
    if not c.isdigit() or not c.isascii():
        raise BadPaymentCode(
            f"the scanned code is not a payment code ({n} characters, not all digits): ask the "
            f"customer to open the payment code (付款码) in WeChat, Alipay or a UnionPay app"
        )
    two = int(c[:2]) if n >= 2 else -1
    if 10 <= two <= 15 and n == 18:
        return Wallet.WECHAT
    if 25 <= two <= 30 and 16 <= n <= 24:
        return Wallet.ALIPAY
    if two == 62 and n == 19:
        return Wallet.UNIONPAY_QR
    raise BadPaymentCode(
        f"the scanned code ({n} digits, starting {c[:2]}) is not a WeChat Pay (18 digits, "
        f"10-15…), Alipay (16-24 digits, 25-30…) or UnionPay QR (19 digits, 62…) payment "
        f"code: ask the customer to refresh the payment code and scan it again"
    )


def order_number(tid: str, day: date, seq: int) -> str:
    """The terminal's order number (out_trade_no): ``QR`` + TID + YYYYMMDD + 6-digit sequence.

    24 characters, within every wallet's 32-character limit, unique per terminal and day.
    """
    if not 1 <= seq <= 999_999:
        raise ValueError(f"order sequence {seq} outside 1-999999")
    return f"QR{tid}{day:%Y%m%d}{seq:06d}"


def refund_number(order: str, n: int) -> str:
    """The refund number (out_refund_no) of the ``n``-th refund of ``order``."""
    return f"{order}R{n:02d}"


def mask_payer(ref: str | None) -> str:
    """A payer reference for a stub: at most the first 3 and last 4 characters shown.

    The gateway's buyer id (an openid, a login like ``159****5620``) identifies a person; the
    stub needs only enough to tell two payers apart.
    """
    if not ref:
        return ""
    if len(ref) <= 7:
        return ref[:1] + "*" * (len(ref) - 1)
    return f"{ref[:3]}****{ref[-4:]}"


class QrKind(StrEnum):
    """What a QR order row is."""

    PAY = "pay"  # customer-presented (付款码) or merchant-presented (precreate)
    REFUND = "refund"


class QrState(StrEnum):
    """Where a QR order stands; see the module docstring."""

    PENDING = "pending"
    PAYING = "paying"
    SUCCESS = "success"
    DECLINED = "declined"
    NOT_SENT = "not_sent"
    CANCEL_OWED = "cancel_owed"
    CANCELLED = "cancelled"
    REFUND_OWED = "refund_owed"


Q = QrState
QR_TRANSITIONS: dict[QrState, frozenset[QrState]] = {
    Q.PENDING: frozenset(
        {Q.PAYING, Q.SUCCESS, Q.DECLINED, Q.NOT_SENT, Q.CANCEL_OWED, Q.REFUND_OWED}
    ),
    Q.PAYING: frozenset({Q.SUCCESS, Q.DECLINED, Q.CANCEL_OWED}),
    Q.CANCEL_OWED: frozenset({Q.CANCELLED}),
    Q.REFUND_OWED: frozenset({Q.SUCCESS, Q.DECLINED}),
    Q.SUCCESS: frozenset(),
    Q.DECLINED: frozenset(),
    Q.NOT_SENT: frozenset(),
    Q.CANCELLED: frozenset(),
}


def check_qr_transition(old: QrState, new: QrState) -> None:
    """Raise IllegalTransition unless ``old → new`` is allowed (a bug otherwise)."""
    if new not in QR_TRANSITIONS[old]:
        raise IllegalTransition(f"QR order cannot go from {old.value} to {new.value}")


@dataclass(frozen=True)
class QrOrder:
    """One QR order (a payment or a refund) as the journal keeps it. No payment code."""

    order: str
    kind: QrKind
    state: QrState
    amount: int
    currency: str
    wallet: str
    mode: str  # "scan" (customer-presented 付款码) | "show" (merchant-presented code) | ""
    batch: int
    trade_no: str
    payer: str  # masked payer reference
    original: str  # refunds: the paid order's number
    gateway_state: str  # last trade state the gateway named
    err_code: str
    operator: str
    note: str
    created_at: datetime
    updated_at: datetime
    local_date: str

    @property
    def owed(self) -> bool:
        """True while a cancel or a refund still has to reach the gateway."""
        return self.state in (QrState.CANCEL_OWED, QrState.REFUND_OWED)

    def as_dict(self) -> dict[str, Any]:
        """Machine-readable form (CLI ``--json``, exports)."""
        return {
            "order": self.order,
            "kind": self.kind.value,
            "state": self.state.value,
            "amount": self.amount,
            "currency": self.currency,
            "wallet": self.wallet,
            "mode": self.mode,
            "batch": self.batch,
            "trade_no": self.trade_no,
            "payer": self.payer,
            "original": self.original,
            "gateway_state": self.gateway_state,
            "err_code": self.err_code,
            "operator": self.operator,
            "note": self.note,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "local_date": self.local_date,
        }


# ---- gateway answers and the query-then-cancel rule ----------------------------------------


class TradeState(StrEnum):
    """The gateway's trade states (Alipay trade_status / WeChat trade_state, simplified)."""

    WAIT_BUYER_PAY = "WAIT_BUYER_PAY"  # WeChat USERPAYING, Alipay WAIT_BUYER_PAY / 10003
    SUCCESS = "SUCCESS"
    CLOSED = "CLOSED"  # not paid in time, cancelled, or closed; no money with the merchant
    REFUNDED = "REFUNDED"  # paid, then refunded in full
    NOT_EXIST = "NOT_EXIST"  # the gateway has no such order (ORDERNOTEXIST)


class Answer(StrEnum):
    """What one gateway exchange told the terminal about a payment."""

    PAID = "paid"
    USER_PAYING = "user_paying"
    FAILED = "failed"  # definitive: the gateway refused or closed the order; nothing charged
    UNKNOWN = "unknown"  # no answer, a system error, an answer whose signature failed


# err_code values (WeChat Pay micropay 错误码) that mean the outcome is not known yet. An
# order the gateway does not know (yet) is not a refusal: the pay request may still be on its
# way, so the loop goes on and ends in a cancel, which the gateway turns into a closed order.
# Answers with return_code FAIL naming why the gateway did not process the request at all.
REQUEST_REFUSED = frozenset({"SIGNERROR", "MCHID_INVALID", "PARAM_ERROR"})
UNKNOWN_ERRORS = frozenset({"SYSTEMERROR", "BANKERROR", "USERPAYING", "UNKNOWN", "ORDERNOTEXIST"})


def classify_answer(body: Mapping[str, Any] | None) -> Answer:
    """The meaning of a verified gateway answer (None: no valid answer at all)."""
    if body is None:
        return Answer.UNKNOWN
    if body.get("return_code") != "SUCCESS":
        # The gateway refused the request itself (signature, unknown terminal) and did not
        # act on it: nothing was charged.
        return Answer.FAILED if body.get("err_code") in REQUEST_REFUSED else Answer.UNKNOWN
    state = str(body.get("trade_state", ""))
    if body.get("result_code") == "SUCCESS":
        if state == TradeState.SUCCESS:
            return Answer.PAID
        if state == TradeState.WAIT_BUYER_PAY:
            return Answer.USER_PAYING
        if state in (TradeState.CLOSED, TradeState.REFUNDED):
            return Answer.FAILED
        return Answer.UNKNOWN
    err = str(body.get("err_code", ""))
    if err == "USERPAYING":
        return Answer.USER_PAYING
    if err in UNKNOWN_ERRORS or not err:
        return Answer.UNKNOWN
    return Answer.FAILED


@dataclass(frozen=True)
class QueryPolicy:
    """The query loop: every ``interval`` seconds (3-5) for up to ``limit`` seconds (~60)."""

    interval: float = 5.0
    limit: float = 60.0

    def __post_init__(self) -> None:
        if not 0 < self.interval <= self.limit:
            raise ValueError("query interval must be positive and at most the limit")


class Step(StrEnum):
    """What to do after an answer."""

    APPROVE = "approve"
    DECLINE = "decline"
    QUERY = "query"  # wait ``delay`` seconds, then query
    CANCEL = "cancel"  # now, right after the last query; repeated until acknowledged


@dataclass(frozen=True)
class Decision:
    """The step and, for QUERY, how long to wait first."""

    step: Step
    delay: float = 0.0


def next_step(answer: Answer, elapsed: float, policy: QueryPolicy) -> Decision:
    """The published barcode-pay rule: paid → approve; refused → decline; user paying or
    unknown → query every interval while another query still fits in the limit, else cancel.

    ``elapsed`` is seconds since the pay request was sent.
    """
    if answer == Answer.PAID:
        return Decision(Step.APPROVE)
    if answer == Answer.FAILED:
        return Decision(Step.DECLINE)
    if elapsed + policy.interval <= policy.limit + 1e-9:
        return Decision(Step.QUERY, policy.interval)
    return Decision(Step.CANCEL)


def cancel_acknowledged(body: Mapping[str, Any] | None) -> bool:
    """True when a cancel answer closes the matter: the order is closed (or refunded) or the
    gateway never had it. ``recall = "Y"`` (WeChat reverse) asks for the cancel again."""
    if body is None or body.get("return_code") != "SUCCESS":
        return False
    if body.get("result_code") == "SUCCESS":
        return bool(body.get("recall", "N") != "Y")
    return bool(body.get("err_code") in ("ORDERNOTEXIST", "TRADE_NOT_EXIST"))


# ---- signing --------------------------------------------------------------------------------


def string_to_sign(params: Mapping[str, Any], key: str) -> str:
    """``k=v&…&key=KEY`` over the non-empty parameters except ``sign``, sorted by name."""
    parts = [
        f"{k}={_text(v)}"
        for k, v in sorted(params.items())
        if k != "sign" and v is not None and _text(v) != ""
    ]
    return "&".join([*parts, f"key={key}"])


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def sign(params: Mapping[str, Any], key: str) -> str:
    """The HMAC-SHA256 signature (upper-case hex) of ``params`` under the terminal's key."""
    mac = hmac.new(key.encode(), string_to_sign(params, key).encode(), hashlib.sha256)
    return mac.hexdigest().upper()


def verify(params: Mapping[str, Any], key: str) -> bool:
    """True when ``params["sign"]`` is the signature of the other parameters under ``key``."""
    given = params.get("sign")
    return isinstance(given, str) and hmac.compare_digest(given.upper(), sign(params, key))
