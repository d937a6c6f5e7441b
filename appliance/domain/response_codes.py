"""The one table of host response codes (ISO 8583 field 39) as a person reads them.

The Chinese follows the wording of the China UnionPay POS response-code table (应答码说明:
the meaning, then what to do, e.g. "05 不予承兑，请持卡人与发卡行联系"); the English is plain
words with the same next step. The screen, the CLI and the declined slip all read this table,
so a code is never worded two ways.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ResponseCode:
    """One answer code: what it means and what to do next, in Chinese and English."""

    code: str
    zh: str
    en: str
    zh_next: str
    en_next: str

    def meaning(self, lang: str) -> str:
        """What the code means in ``lang`` ("zh_CN" or "en")."""
        return self.zh if lang.startswith("zh") else self.en

    def next_step(self, lang: str) -> str:
        """What the cashier should do next, in ``lang``."""
        return self.zh_next if lang.startswith("zh") else self.en_next


_ISSUER = ("请持卡人与发卡行联系", "ask the cardholder to contact the card issuer")
_OTHER_CARD = ("请换卡或换其他方式支付", "use another card or payment method")
_RETRY = ("请稍后重试", "try again in a few minutes")
_ACQUIRER = ("请联系收单机构", "call the acquirer's help desk")
_TECH = ("请联系技术人员", "call the technician")

_ROWS: tuple[tuple[str, str, str, tuple[str, str]], ...] = (
    ("00", "承兑或交易成功", "Approved", ("", "")),
    ("01", "查发卡行", "Refer to the card issuer", _ISSUER),
    ("03", "无效商户", "Invalid merchant", _ACQUIRER),
    ("04", "没收卡", "Pick up the card", _ISSUER),
    ("05", "不予承兑", "Not honoured by the card issuer", _ISSUER),
    ("06", "出错", "Error at the issuer", _RETRY),
    ("12", "无效交易", "Invalid transaction", _ACQUIRER),
    ("13", "无效金额", "Invalid amount", ("请核对金额后重试", "check the amount and try again")),
    ("14", "无效卡号（无此账号）", "Invalid card number", _OTHER_CARD),
    ("15", "无此发卡方", "No such card issuer", _OTHER_CARD),
    ("22", "故障怀疑", "Suspected malfunction", _RETRY),
    ("25", "找不到原始交易", "Original transaction not found", _ACQUIRER),
    ("30", "格式错误", "Message format error", _TECH),
    ("33", "过期的卡", "Expired card", _OTHER_CARD),
    ("34", "有作弊嫌疑", "Suspected fraud", _ISSUER),
    ("40", "请求的功能尚不支持", "Function not supported", _ACQUIRER),
    ("41", "挂失卡", "Lost card", _ISSUER),
    ("43", "被窃卡", "Stolen card", _ISSUER),
    ("51", "余额不足", "Insufficient funds", _OTHER_CARD),
    ("54", "过期的卡", "Expired card", _OTHER_CARD),
    ("55", "密码错", "Incorrect PIN", _OTHER_CARD),
    ("57", "不允许持卡人进行的交易", "Not permitted to the cardholder", _ISSUER),
    ("58", "不允许终端进行的交易", "Not permitted on this terminal", _ACQUIRER),
    ("59", "有作弊嫌疑", "Suspected fraud", _ISSUER),
    ("61", "超出金额限制", "Over the card's amount limit", _OTHER_CARD),
    ("62", "受限制的卡", "Restricted card", _OTHER_CARD),
    ("64", "原始金额错误", "Original amount incorrect", _ACQUIRER),
    ("65", "超出消费次数限制", "Over the card's usage limit", _OTHER_CARD),
    ("68", "发卡行响应超时", "The issuer answered too late", _RETRY),
    ("75", "密码错误次数超限", "PIN tries exceeded", _ISSUER),
    ("90", "日切处理中", "The bank is closing its day", _RETRY),
    ("91", "发卡方状态不正常", "The card issuer is unavailable", _RETRY),
    ("92", "发卡方线路异常", "The card issuer cannot be reached", _RETRY),
    (
        "94",
        "重复交易",
        "Duplicate transaction",
        ("请查询交易记录，勿重复收款", "check the list; do not charge again"),
    ),
    (
        "95",
        "对账不平",
        "Totals do not balance",
        ("将自动批上送", "the batch is uploaded for checking"),
    ),
    ("96", "系统故障", "System malfunction at the bank", _RETRY),
    ("97", "终端未登记", "Terminal not registered", _ACQUIRER),
    ("98", "发卡方超时", "The card issuer timed out", _RETRY),
    ("99", "PIN格式错", "PIN block error", _TECH),
    ("A0", "MAC校验错", "MAC check failed", ("请重新签到", "sign on again")),
    ("Z1", "卡片拒绝（未发往银行）", "Declined by the card (not sent to the bank)", _OTHER_CARD),
)

TABLE: dict[str, ResponseCode] = {
    code: ResponseCode(code, zh, en, nxt[0], nxt[1]) for code, zh, en, nxt in _ROWS
}


def lookup(code: str | None) -> ResponseCode:
    """The entry of ``code``; an unknown code reads as a decline naming the code."""
    code = (code or "").upper()
    found = TABLE.get(code)
    if found is not None:
        return found
    return ResponseCode(code, f"交易失败（应答码 {code}）", f"Declined (code {code})", *_ISSUER)
