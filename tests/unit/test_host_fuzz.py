"""Fuzzing the decoders: whatever bytes arrive, only ProtocolError (or MacError) comes out."""

from __future__ import annotations

import contextlib
import random

import pytest

from appliance.errors import MacError, ProtocolError
from appliance.host.dialects import get_dialect
from appliance.host.messages import HostResponse, MessageKind, WorkingKeys
from tests.unit.test_host_codec import MAK, REQUESTS

FRAMES_PER_DIALECT = 10_000  # per dialect, half to each decoder


def _mutate(rng: random.Random, frame: bytes) -> bytes:
    b = bytearray(frame)
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        if op < 0.5 and b:
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        elif op < 0.65 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op < 0.8:
            del b[rng.randrange(len(b) + 1) :]
        elif op < 0.95:
            i = rng.randrange(len(b) + 1)
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 6)))
        elif b:
            i = rng.randrange(len(b))
            del b[i : i + rng.randint(1, 8)]
    return bytes(b)


def _corpus(name: str) -> tuple[list[bytes], list[bytes]]:
    d = get_dialect(name)
    requests, responses = [], []
    digits = 8 if name == "cup" else 6
    for kind, req in REQUESTS.items():
        if not d.has_kind(kind):
            continue
        requests.append(d.encode_request(req, MAK))
        wk = WorkingKeys(b"\x11" * 16, "A" * digits, b"\x22" * 16, "B" * digits)
        resp = HostResponse(
            kind,
            req.tid,
            req.stan,
            "00",
            rrn="632600000123",
            auth_code="A1B2C3",
            batch=7,
            working_keys=wk if kind is MessageKind.SIGN_ON else None,
        )
        responses.append(d.encode_response(resp, req, MAK))
    return requests, responses


@pytest.mark.parametrize("name", ["iso87", "cup"])
def test_mutated_frames_raise_nothing_but_protocol_or_mac_errors(name: str) -> None:
    d = get_dialect(name)
    requests, responses = _corpus(name)
    rng = random.Random(8583)
    outcomes = {"decoded": 0, "protocol": 0, "mac": 0}
    for i in range(FRAMES_PER_DIALECT):
        as_request = i % 2 == 0
        frame = _mutate(rng, rng.choice(requests if as_request else responses))
        try:
            if as_request:
                d.decode_request(frame, lambda tid: MAK)
            else:
                d.decode_response(frame, MAK)
        except MacError:
            outcomes["mac"] += 1
        except ProtocolError:
            outcomes["protocol"] += 1
        else:
            outcomes["decoded"] += 1
    # The mutations reached every layer: the parser, the validator and the MAC check.
    assert outcomes["protocol"] > FRAMES_PER_DIALECT // 2
    assert outcomes["mac"] > 0


@pytest.mark.parametrize("name", ["iso87", "cup"])
def test_the_frame_reader_survives_random_streams(name: str) -> None:
    d = get_dialect(name)
    requests, _ = _corpus(name)
    rng = random.Random(1)
    for _ in range(500):
        stream = b"".join(d.frame(_mutate(rng, rng.choice(requests))) for _ in range(3))
        stream = _mutate(rng, stream)
        reader = d.reader()
        try:
            for i in range(0, len(stream), 7):
                for body in reader.feed(stream[i : i + 7]):
                    with contextlib.suppress(ProtocolError, MacError):
                        d.decode_request(body, lambda tid: MAK)
        except ProtocolError:
            pass
