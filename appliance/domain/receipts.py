"""Receipt documents: device-independent slips built by pure functions from domain data.

A ``Document`` is a tuple of blocks (text, two-column pairs, separators, a QR code, a signature
line, feeds, a cut). Renderers (``appliance.receipts``) turn it into ESC/POS bytes, plain text,
PNG or PDF; they all lay it out with ``layout()`` so every medium shows the same lines.

Card numbers: a receipt only ever shows ``mask_pan`` (6+4, merchant stub and totals slips) or
``last4`` (customer copy) of the journal's masked PAN, re-masked here so that even a full PAN
that reached a ``Transaction`` by mistake cannot be printed. The expiry is never printed.

Language: ``"zh_CN"``, ``"en"`` or ``"bilingual"`` (Chinese label then English label on the
same line, e.g. ``商户编号 MID``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from appliance.domain.card import last4, mask_pan, signature_required
from appliance.domain.money import currency, format_amount
from appliance.domain.response_codes import lookup
from appliance.domain.transactions import Transaction, TxnState, TxnType
from appliance.errors import ConfigError

Align = Literal["left", "center", "right"]
Lang = Literal["zh_CN", "en", "bilingual"]
Copy = Literal["merchant", "customer"]
LANGS: tuple[str, ...] = ("zh_CN", "en", "bilingual")

# Transaction receipt kinds accepted by ``build_receipt``.
TXN_KINDS: tuple[str, ...] = ("sale", "void", "refund", "offline", "forwarded", "declined")
# Every kind of document this module builds.
ALL_KINDS: tuple[str, ...] = (
    *TXN_KINDS,
    "settlement",
    "interim",
    "reconciliation",
    "self_test",
)


# --------------------------------------------------------------------------- document blocks


@dataclass(frozen=True)
class Text:
    """A paragraph of text, wrapped to the paper width. ``double`` is double width and height."""

    text: str
    align: Align = "left"
    bold: bool = False
    double: bool = False


@dataclass(frozen=True)
class Pair:
    """A two-column line: label on the left, value on the right (value wraps below if too long)."""

    label: str
    value: str
    bold: bool = False


@dataclass(frozen=True)
class Separator:
    """A full-width rule made of ``char`` (one display column wide)."""

    char: str = "-"


@dataclass(frozen=True)
class QR:
    """A QR code (centered) carrying ``data``; plain ASCII."""

    data: str


@dataclass(frozen=True)
class Signature:
    """A signature area: the label, room to sign, and a rule."""

    label: str


@dataclass(frozen=True)
class Feed:
    """Blank lines."""

    lines: int = 1


@dataclass(frozen=True)
class Cut:
    """End of slip: feed past the tear bar and cut (or only feed, without a cutter)."""


Block = Text | Pair | Separator | QR | Signature | Feed | Cut


@dataclass(frozen=True)
class Document:
    """One slip. ``reference`` identifies it (the QR content for transaction stubs)."""

    kind: str
    lang: str
    blocks: tuple[Block, ...]
    copy: str | None = None
    reference: str = ""


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class MerchantInfo:
    """Who the merchant is, as printed in every slip header (MID: 15 chars, TID: 8)."""

    name: str
    mid: str
    tid: str


@dataclass(frozen=True)
class SchemeTotals:
    """Counts and amounts (minor units, positive) of one card scheme in a batch."""

    scheme: str
    sale_count: int = 0
    sale_amount: int = 0
    refund_count: int = 0
    refund_amount: int = 0
    fee: int = 0  # estimated merchant discount fee for this scheme's sales

    @property
    def gross(self) -> int:
        """Sales minus refunds."""
        return self.sale_amount - self.refund_amount


@dataclass(frozen=True)
class OperatorTotals:
    """Counts and amounts (minor units, positive) taken by one operator."""

    operator: str
    sale_count: int = 0
    sale_amount: int = 0
    refund_count: int = 0
    refund_amount: int = 0

    @property
    def gross(self) -> int:
        """Sales minus refunds."""
        return self.sale_amount - self.refund_amount


@dataclass(frozen=True)
class Totals:
    """One side's batch totals as exchanged in a 0500 settlement request/response."""

    sale_count: int
    sale_amount: int
    refund_count: int
    refund_amount: int


@dataclass(frozen=True)
class BatchTotals:
    """The terminal's totals for one batch, per scheme (and per operator for the X report)."""

    batch: int
    currency: str
    schemes: tuple[SchemeTotals, ...]
    operators: tuple[OperatorTotals, ...] = ()
    opened_at: datetime | None = None
    closed_at: datetime | None = None

    @property
    def totals(self) -> Totals:
        """All schemes together."""
        return Totals(
            sum(s.sale_count for s in self.schemes),
            sum(s.sale_amount for s in self.schemes),
            sum(s.refund_count for s in self.schemes),
            sum(s.refund_amount for s in self.schemes),
        )

    @property
    def gross(self) -> int:
        """Sales minus refunds over all schemes."""
        return sum(s.gross for s in self.schemes)

    @property
    def fees(self) -> int:
        """Estimated fees over all schemes."""
        return sum(s.fee for s in self.schemes)

    @property
    def net(self) -> int:
        """Expected net deposit: gross minus estimated fees."""
        return self.gross - self.fees


@dataclass(frozen=True)
class SettlementResult:
    """What the host answered to settlement: balanced or not, and its totals if it sent them.

    ``uploaded`` is True when the terminal ran batch upload (0320s) after a first imbalance.
    """

    balanced: bool
    host: Totals | None = None
    uploaded: bool = False
    settled_at: datetime | None = None


@dataclass(frozen=True)
class ReconLine:
    """One discrepancy between the journal and the acquirer statement.

    ``issue``: "missing_at_host" (terminal approved, acquirer has none: 单边账),
    "missing_at_terminal", or "amount_mismatch" (``host_amount`` then says the host's amount).
    """

    issue: Literal[
        "missing_at_host",
        "missing_at_terminal",
        "amount_mismatch",
        "fee_mismatch",
        "reversed_charged",
    ]
    trace: str
    rrn: str
    auth_code: str
    date: datetime
    masked_pan: str
    amount: int
    host_amount: int | None = None
    type: Literal["sale", "refund"] = "sale"


@dataclass(frozen=True)
class ReconReport:
    """Result of matching the journal against an acquirer statement for one batch or day."""

    batch: int
    currency: str
    matched_count: int
    matched_amount: int
    lines: tuple[ReconLine, ...] = ()
    statement: str = ""  # where the statement came from (file name, host)


# --------------------------------------------------------------------------- helpers


def display_width(text: str) -> int:
    """Columns ``text`` takes on a receipt: CJK wide/fullwidth characters take two.

    East Asian *ambiguous* characters (``·`` ``—`` ``…`` ``é`` ``€``) count two as well: they are
    double-byte GB codes, which a Chinese-firmware printer prints in a full 24-dot cell.
    """
    return sum(2 if unicodedata.east_asian_width(ch) in "WFA" else 1 for ch in text)


def has_cjk(text: str) -> bool:
    """True when ``text`` holds any character that is not plain ASCII (needs the CJK path)."""
    return any(ord(ch) > 0x7E for ch in text)


def resolve_tz(tz: tzinfo | str) -> tzinfo:
    """A tzinfo from an IANA name such as ``"Asia/Shanghai"`` (or a tzinfo, returned as is)."""
    if isinstance(tz, tzinfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"unknown time zone {tz!r}: use an IANA name such as Asia/Shanghai"
        ) from exc


def _check_lang(lang: str) -> None:
    if lang not in LANGS:
        raise ConfigError(f"unknown receipt language {lang!r}: expected one of {', '.join(LANGS)}")


def _t(lang: str, zh: str, en: str) -> str:
    """The label in the receipt's language; bilingual puts Chinese first."""
    if lang == "zh_CN":
        return zh
    if lang == "en":
        return en
    return f"{zh} {en}"


def _when(dt: datetime | None, tz: tzinfo) -> str:
    if dt is None:
        return ""
    return dt.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def _money(minor: int, cur: str) -> str:
    return f"{cur} {format_amount(minor, currency(cur))}"


def safe_pan(masked: str, copy: str) -> str:
    """The card number as a slip may show it: 6+4 (merchant) or last four (customer).

    Masks again whatever it is given, so a full PAN that slipped into the journal still prints
    masked.
    """
    if not masked:
        return ""
    if copy == "customer":
        return last4(masked)
    return mask_pan(masked)


def qr_reference(merchant: MerchantInfo, txn: Transaction) -> str:
    """QR content of a stub: ``countertop:<tid>:<batch>:<trace>:<rrn>`` (rrn may be empty)."""
    return f"countertop:{merchant.tid}:{txn.batch:06d}:{txn.trace}:{txn.rrn or ''}"


_ENTRY = {"07": ("非接", "CONTACTLESS"), "05": ("插卡", "CHIP"), "02": ("磁条", "SWIPE")}
_TYPE = {
    TxnType.SALE: ("消费", "SALE"),
    TxnType.VOID: ("撤销", "VOID"),
    TxnType.REFUND: ("退货", "REFUND"),
}
_COPY = {"merchant": ("商户存根", "MERCHANT COPY"), "customer": ("持卡人存根", "CUSTOMER COPY")}


def kind_for(txn: Transaction) -> str:
    """The receipt kind a transaction's state calls for (what a reprint should print)."""
    if txn.state in (TxnState.DECLINED, TxnState.NOT_SENT, TxnState.REVERSED):
        return "declined"
    if txn.state is TxnState.STORED:
        return "offline"
    if txn.state is TxnState.FORWARD_DECLINED or (
        txn.offline and txn.state in (TxnState.APPROVED, TxnState.VOIDED) and txn.rrn
    ):
        return "forwarded"
    return txn.type.value


def _header(
    lang: str,
    merchant: MerchantInfo,
    operator: str,
    copy: str | None,
    reprint_at: datetime | None,
    tz: tzinfo,
) -> list[Block]:
    blocks: list[Block] = []
    if reprint_at is not None:
        blocks.append(Text(f"*** {_t(lang, '重打印', 'REPRINT')} ***", "center", bold=True))
        blocks.append(Pair(_t(lang, "重打印时间", "REPRINTED"), _when(reprint_at, tz)))
    blocks += _merchant_lines(lang, merchant, operator, copy)
    return blocks


@lru_cache(maxsize=64)
def _merchant_lines(
    lang: str, merchant: MerchantInfo, operator: str, copy: str | None
) -> tuple[Block, ...]:
    """The copy's title and the merchant, terminal and operator lines: the same on every slip
    of a shift, so built once (blocks are frozen; a slip shares them)."""
    blocks: list[Block] = []
    if copy is not None:
        zh, en = _COPY[copy]
        blocks.append(Text(_t(lang, zh, en), "center", bold=True))
    blocks += [
        Separator(),
        Pair(_t(lang, "商户名称", "MERCHANT"), merchant.name),
        Pair(_t(lang, "商户编号", "MID"), merchant.mid),
        Pair(_t(lang, "终端编号", "TID"), merchant.tid),
    ]
    if operator:
        blocks.append(Pair(_t(lang, "操作员", "OPERATOR"), operator))
    blocks.append(Separator())
    return tuple(blocks)


def _card_lines(lang: str, txn: Transaction, copy: str) -> list[Block]:
    entry = _ENTRY.get(txn.entry_mode[:2], ("", txn.entry_mode))
    blocks: list[Block] = [
        Pair(_t(lang, "卡组织", "SCHEME"), txn.scheme or "-"),
        Pair(_t(lang, "卡号", "CARD NO"), safe_pan(txn.masked_pan, copy)),
    ]
    if txn.entry_mode:
        blocks.append(
            Pair(_t(lang, "输入方式", "ENTRY"), _t(lang, *entry) if entry[0] else entry[1])
        )
    # EMV Book 4 §11.4 (receipt data): the application's label and its AID on card slips.
    if txn.label:
        blocks.append(Pair(_t(lang, "应用标签", "APP LABEL"), txn.label))
    if txn.aid:
        blocks.append(Pair(_t(lang, "应用标识", "AID"), txn.aid))
    return blocks


def _ids(lang: str, txn: Transaction, tz: tzinfo, *, auth: bool = True) -> list[Block]:
    blocks: list[Block] = [
        Pair(_t(lang, "批次号", "BATCH NO"), f"{txn.batch:06d}"),
        Pair(_t(lang, "凭证号", "TRACE NO"), txn.trace),
    ]
    if txn.original_stan is not None and txn.type is not TxnType.SALE:
        blocks.append(Pair(_t(lang, "原凭证号", "ORIG TRACE"), f"{txn.original_stan:06d}"))
    if auth:
        blocks.append(Pair(_t(lang, "参考号", "RRN"), txn.rrn or ""))
        blocks.append(Pair(_t(lang, "授权码", "AUTH CODE"), txn.auth_code or ""))
    blocks.append(Pair(_t(lang, "日期/时间", "DATE/TIME"), _when(txn.created_at, tz)))
    return blocks


def _amount(lang: str, txn: Transaction) -> list[Block]:
    signed = -txn.amount if txn.type in (TxnType.VOID, TxnType.REFUND) else txn.amount
    return [
        Separator(),
        Text(_t(lang, "金额", "AMOUNT") + ":", bold=True),
        Text(_money(signed, txn.currency), "right", bold=True, double=True),
        Separator(),
    ]


def _cvm(lang: str, txn: Transaction, copy: str, cvm_limit: int) -> list[Block]:
    # The card's CVM result (9F34) decides; only a payment without one (no kernel data)
    # falls back to the amount against the CVM limit.
    signature = signature_required(txn.cvm) if txn.cvm else txn.amount > cvm_limit
    if not signature:
        return [Text(_t(lang, "免签", "NO SIGNATURE REQUIRED"), "center")]
    if copy == "merchant":
        return [
            Signature(_t(lang, "持卡人签名", "CARDHOLDER SIGNATURE") + ":"),
            Text(
                _t(
                    lang,
                    "本人确认以上交易，同意将其记入本卡账户",
                    "I ACKNOWLEDGE SATISFACTORY RECEIPT OF RELATIVE GOODS/SERVICES",
                )
            ),
        ]
    return []


def _after_sale(lang: str, txn: Transaction, refunded: int) -> list[Block]:
    """What happened to a sale since: voided, or how much of it was refunded."""
    if txn.type is not TxnType.SALE:
        return []
    if txn.state is TxnState.VOIDED:
        return [
            Text(_t(lang, "本交易已撤销，未扣款", "THIS SALE WAS VOIDED: NOT CHARGED"), "center")
        ]
    if refunded:
        return [
            Pair(_t(lang, "已退货", "REFUNDED"), _money(-refunded, txn.currency), bold=True),
            Pair(_t(lang, "净额", "NET"), _money(txn.amount - refunded, txn.currency)),
            Separator(),
        ]
    return []


def _type_title(lang: str, txn: Transaction) -> Text:
    zh, en = _TYPE[txn.type]
    return Text(_t(lang, zh, en), "center", bold=True, double=True)


def build_receipt(
    kind: str | None,
    txn: Transaction,
    merchant: MerchantInfo,
    *,
    copy: Copy = "merchant",
    lang: Lang = "bilingual",
    cvm_limit: int = 100_000,
    tz: tzinfo | str = "Asia/Shanghai",
    reprint_at: datetime | None = None,
    operator: str | None = None,
    refunded: int = 0,
) -> Document:
    """The card slip (签购单) of one transaction.

    ``kind`` is one of ``TXN_KINDS`` or None to choose from the transaction's state
    (``kind_for``). The merchant stub gets a signature line when the card's CVM result
    (``txn.cvm``, 9F34) is a signature, else "NO SIGNATURE REQUIRED"; a transaction without
    a CVM result falls back to ``cvm_limit`` (minor units: above it, a signature line).
    ``operator`` defaults to ``txn.operator``.
    A reprint (``reprint_at`` set) keeps every original number and adds a REPRINT banner.
    A sale that was voided says VOIDED 已撤销; ``refunded`` (minor units) is what was refunded
    of it so far, printed below its amount.
    """
    _check_lang(lang)
    kind = kind or kind_for(txn)
    if kind not in TXN_KINDS:
        raise ConfigError(f"unknown receipt kind {kind!r}: expected one of {', '.join(TXN_KINDS)}")
    if copy not in _COPY:
        raise ConfigError(f"unknown receipt copy {copy!r}: expected merchant or customer")
    zone = resolve_tz(tz)
    op = txn.operator if operator is None else operator
    ref = qr_reference(merchant, txn)
    b = _header(lang, merchant, op, copy, reprint_at, zone)
    b += _card_lines(lang, txn, copy)
    type_zh, type_en = _TYPE[txn.type]
    b.append(Pair(_t(lang, "交易类型", "TYPE"), _t(lang, type_zh, type_en)))
    qr = True

    if kind in ("sale", "void", "refund"):
        b += _ids(lang, txn, zone)
        b.insert(0, _type_title(lang, txn))
        if txn.state is TxnState.VOIDED:
            b.insert(1, Text(_t(lang, "已撤销", "VOIDED"), "center", bold=True, double=True))
        b += _amount(lang, txn)
        b += _after_sale(lang, txn, refunded)
        if txn.type is TxnType.SALE:
            b += _cvm(lang, txn, copy, cvm_limit)
    elif kind == "offline":
        b.insert(0, Text(_t(lang, "脱机", "OFFLINE"), "center", bold=True, double=True))
        b.insert(1, Text(_t(lang, "待授权", "PENDING AUTHORIZATION"), "center", bold=True))
        b += _ids(lang, txn, zone, auth=False)
        b += _amount(lang, txn)
        b.append(
            Text(
                _t(
                    lang,
                    "本交易尚未获得发卡行授权，将于联网后上送",
                    "NOT YET AUTHORIZED BY THE CARD ISSUER: IT WILL BE SENT WHEN THE LINE IS BACK",
                )
            )
        )
        b += _cvm(lang, txn, copy, cvm_limit)
    elif kind == "forwarded":
        declined = txn.state is TxnState.FORWARD_DECLINED
        b.insert(0, Text(_t(lang, "脱机交易结果", "STORED PAYMENT RESULT"), "center", bold=True))
        b += _ids(lang, txn, zone, auth=not declined)
        b.append(Pair(_t(lang, "上送时间", "SENT AT"), _when(txn.updated_at, zone)))
        if declined:
            b.append(Pair(_t(lang, "应答码", "RESP CODE"), txn.response_code or ""))
        b += _amount(lang, txn)
        if declined:
            b.append(Text(_t(lang, "交易被拒绝", "DECLINED"), "center", bold=True, double=True))
            b.append(
                Text(
                    _t(lang, "请向顾客另行收款", "COLLECT PAYMENT FROM THE CUSTOMER"),
                    "center",
                    bold=True,
                )
            )
            qr = False
        else:
            b.append(Text(_t(lang, "已批准", "APPROVED"), "center", bold=True, double=True))
    else:  # declined
        # NOT_SENT and REVERSED rows also print this slip; their title says what happened.
        title = {
            TxnState.NOT_SENT: ("交易未发送", "NOT SENT"),
            TxnState.REVERSED: ("交易已冲正", "REVERSED"),
        }.get(txn.state, ("交易失败", "DECLINED"))
        b.insert(0, Text(_t(lang, *title), "center", bold=True, double=True))
        b += _ids(lang, txn, zone, auth=False)
        code = txn.response_code or ""
        b.append(Pair(_t(lang, "应答码", "RESP CODE"), code))
        if code:
            entry = lookup(code)  # the same table and wording as the screen
            b.append(Text(_t(lang, entry.zh, entry.en.upper()), "right"))
        b += _amount(lang, txn)
        b.append(Text(_t(lang, "未扣款", "NO MONEY WAS TAKEN"), "center", bold=True))
        qr = False

    if qr and copy == "merchant":
        b.append(QR(ref))
    b += [Feed(1), Cut()]
    return Document(kind, lang, tuple(b), copy, ref)


def _totals_rows(
    lang: str, cur: str, name: str, sale_n: int, sale: int, ref_n: int, ref: int
) -> list[Block]:
    return [
        Text(name, bold=True),
        Pair(_t(lang, f"消费 {sale_n}笔", f"SALES x{sale_n}"), _money(sale, cur)),
        Pair(_t(lang, f"退货 {ref_n}笔", f"REFUNDS x{ref_n}"), _money(-ref, cur)),
    ]


def _totals_header(
    lang: str,
    title: tuple[str, str],
    merchant: MerchantInfo,
    operator: str,
    batch: int,
    printed_at: datetime,
    reprint_at: datetime | None,
    tz: tzinfo,
) -> list[Block]:
    b: list[Block] = [Text(_t(lang, *title), "center", bold=True, double=True)]
    b += _header(lang, merchant, operator, None, reprint_at, tz)
    b += [
        Pair(_t(lang, "批次号", "BATCH NO"), f"{batch:06d}"),
        Pair(_t(lang, "日期/时间", "DATE/TIME"), _when(printed_at, tz)),
        Separator(),
    ]
    return b


def _side(lang: str, cur: str, label: tuple[str, str], t: Totals) -> list[Block]:
    return [
        Text(_t(lang, *label), bold=True),
        Pair(
            _t(lang, f"消费 {t.sale_count}笔", f"SALES x{t.sale_count}"), _money(t.sale_amount, cur)
        ),
        Pair(
            _t(lang, f"退货 {t.refund_count}笔", f"REFUNDS x{t.refund_count}"),
            _money(-t.refund_amount, cur),
        ),
    ]


def _qr_block(lang: str, cur: str, qr: Sequence[Any]) -> list[Block]:
    """QR payments' own lines (one per wallet) and their gross: never in the card totals."""
    if not qr:
        return []
    from appliance.domain.qr import wallet_label

    b: list[Block] = [Separator(), Text(_t(lang, "扫码支付", "QR PAYMENTS"), "center", bold=True)]
    for s in qr:
        zh, en = wallet_label(s.scheme, "zh_CN"), wallet_label(s.scheme, "en")
        name = zh if lang == "zh_CN" else en if lang == "en" else f"{zh} {en}"
        b += _totals_rows(
            lang, cur, name, s.sale_count, s.sale_amount, s.refund_count, s.refund_amount
        )
    gross = sum(s.sale_amount - s.refund_amount for s in qr)
    b.append(Pair(_t(lang, "扫码净额", "QR GROSS"), _money(gross, cur), bold=True))
    return b


def build_settlement(
    totals: BatchTotals,
    result: SettlementResult | None,
    merchant: MerchantInfo,
    *,
    lang: Lang = "bilingual",
    tz: tzinfo | str = "Asia/Shanghai",
    printed_at: datetime,
    operator: str = "",
    reprint_at: datetime | None = None,
    qr: Sequence[Any] = (),
) -> Document:
    """The settlement (Z) slip: per scheme counts/amounts, gross, estimated fees, expected net
    deposit, and the host's verdict (balanced, or out of balance with both sides' totals).

    ``result`` None means settlement has not been answered yet (printed as NOT SETTLED).
    ``qr`` are the batch's QR lines (``appliance.domain.qr_books.qr_totals``), printed in
    their own block after the host's verdict: the card host never balances them.
    """
    _check_lang(lang)
    zone = resolve_tz(tz)
    cur = totals.currency
    b = _totals_header(
        lang,
        ("结算单", "SETTLEMENT"),
        merchant,
        operator,
        totals.batch,
        printed_at,
        reprint_at,
        zone,
    )
    if totals.opened_at is not None:
        b.append(Pair(_t(lang, "开始", "OPENED"), _when(totals.opened_at, zone)))
    if totals.closed_at is not None:
        b.append(Pair(_t(lang, "结束", "CLOSED"), _when(totals.closed_at, zone)))
    for s in totals.schemes:
        b += _totals_rows(
            lang, cur, s.scheme, s.sale_count, s.sale_amount, s.refund_count, s.refund_amount
        )
    b += [
        Separator(),
        Pair(_t(lang, "交易净额", "GROSS"), _money(totals.gross, cur), bold=True),
        Pair(_t(lang, "预估手续费", "EST. FEES"), _money(-totals.fees, cur)),
        Pair(_t(lang, "预计入账", "EXPECTED DEPOSIT"), _money(totals.net, cur), bold=True),
        Separator(),
    ]
    if result is None:
        b.append(Text(_t(lang, "未结算", "NOT SETTLED"), "center", bold=True, double=True))
    elif result.balanced:
        b.append(Text(_t(lang, "对账平", "BALANCED"), "center", bold=True, double=True))
        if result.uploaded:
            b.append(Text(_t(lang, "批上送后", "AFTER BATCH UPLOAD"), "center"))
    else:
        b.append(Text(_t(lang, "对账不平", "OUT OF BALANCE"), "center", bold=True, double=True))
        if result.uploaded:
            b.append(Text(_t(lang, "批上送后", "AFTER BATCH UPLOAD"), "center"))
        b += _side(lang, cur, ("终端", "TERMINAL"), totals.totals)
        if result.host is not None:
            b += _side(lang, cur, ("主机", "HOST"), result.host)
    if result is not None and result.settled_at is not None:
        b.append(Pair(_t(lang, "结算时间", "SETTLED AT"), _when(result.settled_at, zone)))
    b += _qr_block(lang, cur, qr)
    b += [Feed(1), Cut()]
    return Document(
        "settlement", lang, tuple(b), None, f"countertop:{merchant.tid}:{totals.batch:06d}"
    )


def build_interim(
    totals: BatchTotals,
    merchant: MerchantInfo,
    *,
    lang: Lang = "bilingual",
    tz: tzinfo | str = "Asia/Shanghai",
    printed_at: datetime,
    operator: str = "",
    reprint_at: datetime | None = None,
    qr: Sequence[Any] = (),
) -> Document:
    """The interim totals (X) slip: per scheme and per operator, without closing the batch;
    ``qr`` (per-wallet QR lines) in their own block."""
    _check_lang(lang)
    zone = resolve_tz(tz)
    cur = totals.currency
    b = _totals_header(
        lang,
        ("交易汇总", "X TOTALS"),
        merchant,
        operator,
        totals.batch,
        printed_at,
        reprint_at,
        zone,
    )
    b.append(Text(_t(lang, "按卡组织", "BY SCHEME"), "center", bold=True))
    for s in totals.schemes:
        b += _totals_rows(
            lang, cur, s.scheme, s.sale_count, s.sale_amount, s.refund_count, s.refund_amount
        )
    b += [Separator(), Text(_t(lang, "按操作员", "BY OPERATOR"), "center", bold=True)]
    for o in totals.operators:
        b += _totals_rows(
            lang, cur, o.operator, o.sale_count, o.sale_amount, o.refund_count, o.refund_amount
        )
    b += [
        Separator(),
        Pair(_t(lang, "交易净额", "GROSS"), _money(totals.gross, cur), bold=True),
        Pair(_t(lang, "预估手续费", "EST. FEES"), _money(-totals.fees, cur)),
        Pair(_t(lang, "预计入账", "EXPECTED DEPOSIT"), _money(totals.net, cur), bold=True),
        Separator(),
        *_qr_block(lang, cur, qr),
        Text(_t(lang, "未结算 批次未关闭", "NOT SETTLED - BATCH STILL OPEN"), "center"),
        Feed(1),
        Cut(),
    ]
    return Document(
        "interim", lang, tuple(b), None, f"countertop:{merchant.tid}:{totals.batch:06d}"
    )


_ISSUE = {
    "missing_at_host": ("主机无记录", "NOT AT HOST"),
    "missing_at_terminal": ("终端无记录", "NOT AT TERMINAL"),
    "amount_mismatch": ("金额不符", "AMOUNT DIFFERS"),
    "fee_mismatch": ("手续费不符", "FEE DIFFERS"),
    "reversed_charged": ("已冲正仍扣款", "REVERSED BUT CHARGED"),
}


def build_reconciliation(
    report: ReconReport,
    merchant: MerchantInfo,
    *,
    lang: Lang = "bilingual",
    tz: tzinfo | str = "Asia/Shanghai",
    printed_at: datetime,
    operator: str = "",
    reprint_at: datetime | None = None,
) -> Document:
    """The reconciliation (对账) slip: matched count and every discrepancy with its references."""
    _check_lang(lang)
    zone = resolve_tz(tz)
    cur = report.currency
    b = _totals_header(
        lang,
        ("对账单", "RECONCILIATION"),
        merchant,
        operator,
        report.batch,
        printed_at,
        reprint_at,
        zone,
    )
    if report.statement:
        b.append(Pair(_t(lang, "对账文件", "STATEMENT"), report.statement))
    b += [
        Pair(
            _t(lang, f"相符 {report.matched_count}笔", f"MATCHED x{report.matched_count}"),
            _money(report.matched_amount, cur),
        ),
        Pair(_t(lang, "差错笔数", "DISCREPANCIES"), str(len(report.lines)), bold=True),
        Separator(),
    ]
    for line in report.lines:
        refund = line.type == "refund"
        sign = -1 if refund else 1
        b += [
            Text(_t(lang, *_ISSUE[line.issue]), bold=True),
            Pair(
                _t(lang, "交易类型", "TYPE"),
                _t(lang, "退货", "REFUND") if refund else _t(lang, "消费", "SALE"),
                bold=refund,
            ),
            Pair(_t(lang, "凭证号", "TRACE NO"), line.trace),
            Pair(_t(lang, "参考号", "RRN"), line.rrn),
            Pair(_t(lang, "授权码", "AUTH CODE"), line.auth_code),
            Pair(_t(lang, "日期/时间", "DATE/TIME"), _when(line.date, zone)),
            Pair(_t(lang, "卡号", "CARD NO"), safe_pan(line.masked_pan, "merchant")),
            Pair(_t(lang, "金额", "AMOUNT"), _money(sign * line.amount, cur)),
        ]
        if line.host_amount is not None:
            b.append(
                Pair(_t(lang, "主机金额", "HOST AMOUNT"), _money(sign * line.host_amount, cur))
            )
        b.append(Separator())
    if not report.lines:
        b.append(Text(_t(lang, "全部相符", "ALL MATCHED"), "center", bold=True, double=True))
    b += [Feed(1), Cut()]
    return Document(
        "reconciliation", lang, tuple(b), None, f"countertop:{merchant.tid}:{report.batch:06d}"
    )


def build_self_test(
    merchant: MerchantInfo,
    *,
    lang: Lang = "bilingual",
    tz: tzinfo | str = "Asia/Shanghai",
    printed_at: datetime,
    version: str = "",
    printer: str = "",
    columns: int = 32,
) -> Document:
    """The printer self-test page: identity, a column ruler, text styles, Chinese and a QR."""
    _check_lang(lang)
    zone = resolve_tz(tz)
    # "....+....1....+....2": the classic ruler; no long digit runs that look like a PAN.
    ruler = "".join(
        str(i // 10 % 10) if i % 10 == 0 else "+" if i % 5 == 0 else "."
        for i in range(1, columns + 1)
    )
    b: list[Block] = [
        Text(_t(lang, "打印机自检", "PRINTER SELF-TEST"), "center", bold=True, double=True),
        *_header(lang, merchant, "", None, None, zone),
        Pair(_t(lang, "日期/时间", "DATE/TIME"), _when(printed_at, zone)),
    ]
    if version:
        b.append(Pair(_t(lang, "软件版本", "VERSION"), version))
    if printer:
        b.append(Pair(_t(lang, "打印机", "PRINTER"), printer))
    b += [
        Separator(),
        Text(ruler),
        Text("ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789"),
        Text(_t(lang, "粗体", "BOLD"), bold=True),
        Text(_t(lang, "倍高倍宽", "DOUBLE"), double=True),
        Text(_t(lang, "左对齐", "LEFT")),
        Text(_t(lang, "居中", "CENTER"), "center"),
        Text(_t(lang, "右对齐", "RIGHT"), "right"),
        Text("中文打印测试 商户存根 持卡人签名"),
        Pair(_t(lang, "标签", "LABEL"), _t(lang, "数值", "VALUE")),
        Separator("="),
        QR(f"countertop:{merchant.tid}:self-test"),
        Text(_t(lang, "自检完成", "END OF SELF-TEST"), "center"),
        Feed(1),
        Cut(),
    ]
    return Document("self_test", lang, tuple(b), None, f"countertop:{merchant.tid}:self-test")


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class Line:
    """One laid-out printed line: ``text`` already padded to its column position.

    ``double`` lines are laid out in half the columns (each character is twice as wide).
    ``kind`` is "text", "qr" (``text`` is the data), "feed" or "cut".
    """

    text: str
    bold: bool = False
    double: bool = False
    kind: Literal["text", "qr", "feed", "cut"] = "text"
    align: Align = "left"


def wrap(text: str, width: int) -> list[str]:
    """Break ``text`` into lines of at most ``width`` display columns.

    Breaks at spaces where possible, anywhere between CJK characters, and mid-word only when a
    word is longer than a line. Never splits a character.
    """
    if width < 2:
        raise ValueError("width must be at least 2 columns")
    lines: list[str] = []
    for para in text.split("\n"):
        cur = ""
        for token in _tokens(para):
            if display_width(cur + token) <= width:
                cur += token
                continue
            if cur.strip():
                lines.append(cur.rstrip())
            cur = token.lstrip()
            while display_width(cur) > width:
                head = _take(cur, width)
                lines.append(head)
                cur = cur[len(head) :]
        lines.append(cur.rstrip())
    return lines


def _tokens(text: str) -> Iterable[str]:
    """Words with their leading space; every CJK character is a token on its own."""
    token = ""
    for ch in text:
        wide = display_width(ch) == 2
        if ch == " " or wide:
            if token:
                yield token
            token = ch
            if wide:
                yield token
                token = ""
        else:
            token += ch
    if token:
        yield token


def _take(text: str, width: int) -> str:
    """The longest prefix of ``text`` that fits ``width`` columns."""
    used = 0
    for i, ch in enumerate(text):
        used += display_width(ch)
        if used > width:
            return text[:i]
    return text


def _align(text: str, width: int, align: Align) -> str:
    gap = width - display_width(text)
    if gap <= 0 or align == "left":
        return text
    if align == "right":
        return " " * gap + text
    return " " * (gap // 2) + text


def layout(doc: Document | Sequence[Block], columns: int) -> list[Line]:
    """Lay out a document for ``columns`` normal-width columns (trailing spaces dropped)."""
    blocks = doc.blocks if isinstance(doc, Document) else doc
    out: list[Line] = []
    for block in blocks:
        if isinstance(block, Text):
            width = columns // 2 if block.double else columns
            for part in wrap(block.text, width):
                out.append(
                    Line(
                        _align(part, width, block.align),
                        block.bold,
                        block.double,
                        align=block.align,
                    )
                )
        elif isinstance(block, Pair):
            lw, vw = display_width(block.label), display_width(block.value)
            if lw + 1 + vw <= columns:
                out.append(Line(block.label + " " * (columns - lw - vw) + block.value, block.bold))
            else:
                for part in wrap(block.label, columns):
                    out.append(Line(part, block.bold))
                for part in wrap(block.value, columns):
                    out.append(Line(_align(part, columns, "right"), block.bold, align="right"))
        elif isinstance(block, Separator):
            out.append(Line(block.char * columns))
        elif isinstance(block, QR):
            out.append(Line(block.data, kind="qr", align="center"))
        elif isinstance(block, Signature):
            for part in wrap(block.label, columns):
                out.append(Line(part))
            out += [Line("", kind="feed"), Line("", kind="feed"), Line("x" + "_" * (columns - 1))]
        elif isinstance(block, Feed):
            out += [Line("", kind="feed")] * block.lines
        elif isinstance(block, Cut):
            out.append(Line("", kind="cut"))
    return out


def document_to_text(doc: Document | Sequence[Block], columns: int) -> str:
    """The document as plain text, one printed line per line (for tests, .txt and review).

    Double-size lines keep their position on paper (leading spaces doubled); a QR code shows as
    ``[QR]`` and its data (broken after ``:`` to fit); the cut as an empty line.
    """
    rows: list[str] = []
    for line in layout(doc, columns):
        if line.kind == "qr":
            rows += [_align(part, columns, "center") for part in _qr_caption(line.text, columns)]
        elif line.kind in ("feed", "cut"):
            rows.append("")
        elif line.double:
            body = line.text.lstrip(" ")
            rows.append(" " * (2 * (len(line.text) - len(body))) + body)
        else:
            rows.append(line.text)
    return "\n".join(rows) + "\n"


def _qr_caption(data: str, columns: int) -> list[str]:
    """``[QR]`` then the QR data, broken after a ``:`` where a line would overflow."""
    rows = ["[QR]"]
    cur = ""
    for i, part in enumerate(data.split(":")):
        piece = part if i == 0 else ":" + part
        if cur and display_width(cur + piece) > columns:
            rows.append(cur)
            cur = piece
        else:
            cur += piece
    rows += wrap(cur, columns)
    return rows
