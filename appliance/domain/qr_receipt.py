"""The QR payment slip (扫码支付凭条), pure: wallet, masked payer, order and trade numbers.

Never the payment code: the order row does not have it. Laid out with the same blocks as the
card slips (``appliance.domain.receipts``), so the ESC/POS and raster renderers print it as they
print any slip.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from appliance.domain.qr import QrKind, QrOrder, QrState, wallet_label
from appliance.domain.receipts import (
    QR,
    Cut,
    Document,
    Feed,
    MerchantInfo,
    Pair,
    Separator,
    Text,
    _check_lang,
    _header,
    _money,
    _t,
    _when,
    resolve_tz,
)
from appliance.errors import ConfigError

_TITLE = {
    (QrKind.PAY, QrState.SUCCESS): ("扫码支付", "QR PAYMENT"),
    (QrKind.REFUND, QrState.SUCCESS): ("扫码退款", "QR REFUND"),
}


def _wallet(lang: str, wallet: str) -> str:
    if lang == "bilingual":
        zh, en = wallet_label(wallet, "zh_CN"), wallet_label(wallet, "en")
        return zh if zh == en else f"{zh} {en}"
    return wallet_label(wallet, "zh_CN" if lang == "zh_CN" else "en")


def build_qr_receipt(
    order: QrOrder,
    merchant: MerchantInfo,
    *,
    copy: str = "merchant",
    lang: str = "bilingual",
    tz: tzinfo | str = "Asia/Shanghai",
    reprint_at: datetime | None = None,
) -> Document:
    """The slip of a QR payment or refund (paid/refunded ones; others print "NOT PAID")."""
    _check_lang(lang)
    if copy not in ("merchant", "customer"):
        raise ConfigError(f"unknown receipt copy {copy!r}: expected merchant or customer")
    zone = resolve_tz(tz)
    b = _header(lang, merchant, order.operator, copy, reprint_at, zone)
    title = _TITLE.get((order.kind, order.state), ("扫码交易未成功", "QR NOT COMPLETED"))
    b.insert(0, Text(_t(lang, *title), "center", bold=True, double=True))
    b += [
        Pair(_t(lang, "支付方式", "WALLET"), _wallet(lang, order.wallet) if order.wallet else "-"),
        Pair(_t(lang, "付款人", "PAYER"), order.payer or "-"),
        Pair(_t(lang, "批次号", "BATCH NO"), f"{order.batch:06d}"),
        Pair(_t(lang, "订单号", "ORDER NO"), order.order),
    ]
    if order.original:
        b.append(Pair(_t(lang, "原订单号", "ORIG ORDER"), order.original))
    b += [
        Pair(_t(lang, "交易单号", "TRADE NO"), order.trade_no or "-"),
        Pair(_t(lang, "日期/时间", "DATE/TIME"), _when(order.updated_at, zone)),
        Separator(),
        Text(_t(lang, "金额", "AMOUNT") + ":", bold=True),
    ]
    signed = -order.amount if order.kind == QrKind.REFUND else order.amount
    b += [Text(_money(signed, order.currency), "right", bold=True, double=True), Separator()]
    if order.state != QrState.SUCCESS:
        b.append(Text(_t(lang, "未扣款", "NO MONEY WAS TAKEN"), "center", bold=True))
    elif copy == "merchant":
        b.append(QR(order.order))
    b += [Feed(1), Cut()]
    kind = "qr_refund" if order.kind == QrKind.REFUND else "qr_payment"
    return Document(kind, lang, tuple(b), copy, order.order)
