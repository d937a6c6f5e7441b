"""The 0510 carries the host's own batch totals (field 48), never an echo of the terminal's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from appliance.errors import ProtocolError
from appliance.host.dialects import get_dialect
from appliance.host.messages import HostRequest, HostResponse, MessageKind, SettlementTotals

MAK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
T0 = datetime(2026, 11, 22, 3, 4, 5, tzinfo=UTC)


def request(totals: SettlementTotals) -> HostRequest:
    return HostRequest(
        MessageKind.SETTLEMENT, "10000001", "898310048160001", 42, T0, batch=7, totals=totals
    )


def test_host_totals_round_trip_and_are_not_the_terminals(dialect: str) -> None:
    d = get_dialect(dialect)
    req = request(SettlementTotals(3, 4500, 1, 500))
    host = SettlementTotals(2, 4000, 1, 500)
    resp = HostResponse(MessageKind.SETTLEMENT, req.tid, req.stan, "95", batch=7, host_totals=host)
    decoded = d.decode_response(d.encode_response(resp, req, MAK), MAK)
    assert decoded.host_totals == host and decoded.settlement_balanced is False
    silent = HostResponse(MessageKind.SETTLEMENT, req.tid, req.stan, "00", batch=7)
    echoed = d.decode_response(d.encode_response(silent, req, MAK), MAK).host_totals
    # iso87 sends no 48 then; a UnionPay 0510 returns the request's 48 with its verdict digit
    assert echoed == (req.totals if dialect == "cup" else None)


def test_iso87_carries_batches_of_more_than_999_transactions() -> None:
    d = get_dialect("iso87")
    req = request(SettlementTotals(10_000, 123_456_789, 1_000, 5_000))
    assert d.decode_request(d.encode_request(req, MAK), lambda _t: MAK).totals == req.totals


def test_a_count_too_wide_for_the_dialect_is_a_protocol_error_before_sending() -> None:
    d = get_dialect("iso87")
    with pytest.raises(ProtocolError):
        d.encode_request(request(SettlementTotals(1_000_000, 1, 0, 0)), MAK)
