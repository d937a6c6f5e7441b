"""Card profiles: loading, validation errors that name the file, APDU matching."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.errors import ConfigError
from drivers.reader.profile import available_cards, find_profile, load_profile, parse_profile

SHIPPED = {
    "visa",
    "mastercard",
    "unionpay",
    "decline",
    "removed-mid-read",
    "collision",
    "wrong-length",
    "garbage-record",
}


def test_every_shipped_profile_loads():
    assert set(available_cards()) >= SHIPPED
    for name in available_cards():
        profile = find_profile(name)
        assert profile.name == name and profile.description


def test_wildcards_and_prefixes_match_commands():
    profile = parse_profile(
        {
            "name": "t",
            "apdus": [
                {"command": "80A8 0000 ??83*", "response": "9000"},
                {"command": "00B2010C", "response": "6A83"},
            ],
        }
    )
    session = profile.session()
    assert session.transceive(bytes.fromhex("80A8000023830000")) == b"\x90\x00"
    assert session.transceive(bytes.fromhex("80A80000")) == b"\x6d\x00"  # too short
    assert session.transceive(bytes.fromhex("00B2010C")) == b"\x6a\x83"
    assert session.transceive(bytes.fromhex("00B2010C00")) == b"\x6d\x00"  # exact, no prefix


def test_response_lists_are_answered_in_turn_and_the_last_repeats():
    profile = parse_profile(
        {"name": "t", "apdus": [{"command": "00*", "response": ["6700", "9000"]}]}
    )
    session = profile.session()
    answers = [session.transceive(b"\x00\x01") for _ in range(3)]
    assert answers == [b"\x67\x00", b"\x90\x00", b"\x90\x00"]
    assert profile.session().transceive(b"\x00") == b"\x67\x00"  # a new tap starts over


def test_a_card_removed_after_n_apdus_stops_answering():
    session = find_profile("removed-mid-read").session()
    assert session.transceive(bytes.fromhex("00A404000E325041592E5359532E444446303100"))
    assert session.transceive(b"\x00\xa4\x04\x00")
    assert session.transceive(b"\x80\xa8\x00\x00") is None and session.removed


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "top level must be an object"),
        ('{"apdus": []}', "'name'"),
        ('{"name": "x", "apdus": {}}', "'apdus' must be a list"),
        ('{"name": "x", "apdus": [{"command": "00"}]}', "exactly 'command' and 'response'"),
        ('{"name": "x", "apdus": [{"command": "0G", "response": "9000"}]}', "command must be hex"),
        ('{"name": "x", "apdus": [{"command": "00", "response": "90"}]}', "status word"),
        ('{"name": "x", "apdus": [{"command": "00", "response": []}]}', "hex or a list"),
        ('{"name": "x", "removed_after": -1}', "removed_after"),
        ('{"name": "x", "collision": "yes"}', "collision"),
        ('{"name": "x", "uid": "01"}', "uid"),
        ('{"name": "x", "colision": true}', "unknown keys"),
    ],
)
def test_a_malformed_profile_names_the_file_and_the_problem(tmp_path: Path, content, problem):
    path = tmp_path / "broken.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=problem) as info:
        load_profile(path)
    assert str(path) in str(info.value)


def test_an_unknown_card_name_lists_the_known_ones(tmp_path: Path):
    (tmp_path / "mine.json").write_text(json.dumps({"name": "mine"}), encoding="utf-8")
    with pytest.raises(ConfigError, match="known: mine"):
        find_profile("visa", tmp_path)
    assert find_profile("mine", tmp_path).name == "mine"
