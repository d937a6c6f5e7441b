"""The keyboard-wedge decoder: key events in, codes out (US layout, shift, Enter)."""

from __future__ import annotations

import pytest

from drivers.scanner.base import MAX_CODE_LENGTH, ScannedCode, mask_code
from drivers.scanner.keymap import (
    EV_KEY,
    EV_SYN,
    KEY_ENTER,
    KEY_KPENTER,
    KEY_LEFTSHIFT,
    KEY_NAMES,
    KEY_RIGHTSHIFT,
    SYN_DROPPED,
    CodeTooLong,
    KeyDecoder,
    key_events,
)

PRESS, RELEASE, REPEAT = 1, 0, 2


def _feed(decoder: KeyDecoder, events: list[tuple[int, int, int]]) -> list[str]:
    return [code for ev in events if (code := decoder.feed(*ev)) is not None]


def test_the_key_codes_are_the_kernels() -> None:
    ecodes = pytest.importorskip("evdev.ecodes", reason="cross-check needs python evdev")
    for name, number in KEY_NAMES.items():
        assert getattr(ecodes, name) == number, name
    assert (ecodes.EV_KEY, ecodes.EV_SYN, ecodes.SYN_DROPPED) == (EV_KEY, EV_SYN, SYN_DROPPED)


def test_digits_then_enter_make_one_code() -> None:
    # KEY_1 (2) … KEY_9 (10), KEY_0 (11): "1357908642"
    keys = [2, 4, 6, 8, 10, 11, 9, 7, 5, 3]
    events = [(EV_KEY, k, v) for k in keys for v in (PRESS, RELEASE)]
    events += [(EV_KEY, KEY_ENTER, PRESS), (EV_KEY, KEY_ENTER, RELEASE)]
    assert _feed(KeyDecoder(), events) == ["1357908642"]


def test_shift_gives_capitals_and_symbols_only_while_held() -> None:
    events = [
        (EV_KEY, KEY_LEFTSHIFT, PRESS),
        (EV_KEY, 30, PRESS),  # A
        (EV_KEY, 30, RELEASE),
        (EV_KEY, 39, PRESS),  # :
        (EV_KEY, 39, RELEASE),
        (EV_KEY, KEY_LEFTSHIFT, RELEASE),
        (EV_KEY, 30, PRESS),  # a
        (EV_KEY, 30, RELEASE),
        (EV_KEY, KEY_RIGHTSHIFT, PRESS),
        (EV_KEY, 53, PRESS),  # ?
        (EV_KEY, KEY_RIGHTSHIFT, RELEASE),
        (EV_KEY, 53, PRESS),  # /
        (EV_KEY, KEY_KPENTER, PRESS),
    ]
    assert _feed(KeyDecoder(), events) == ["A:a?/"]


def test_auto_repeat_and_unknown_keys_add_nothing() -> None:
    events = [
        (EV_KEY, 2, PRESS),
        (EV_KEY, 2, REPEAT),
        (EV_KEY, 59, PRESS),  # F1
        (EV_KEY, 29, PRESS),  # left Ctrl
        (EV_KEY, 3, PRESS),
        (4, 4, 458782),  # EV_MSC scan code, sent by real keyboards before each key
        (EV_KEY, KEY_ENTER, PRESS),
    ]
    assert _feed(KeyDecoder(), events) == ["12"]


def test_keypad_digits_count_like_the_main_row() -> None:
    events = [(EV_KEY, k, PRESS) for k in (79, 80, 81, 82, 83)] + [(EV_KEY, KEY_KPENTER, PRESS)]
    assert _feed(KeyDecoder(), events) == ["1230."]


def test_a_dropped_event_buffer_discards_the_partial_code() -> None:
    decoder = KeyDecoder()
    events = [(EV_KEY, 2, PRESS), (EV_SYN, SYN_DROPPED, 0), (EV_KEY, 3, PRESS)]
    events.append((EV_KEY, KEY_ENTER, PRESS))
    assert _feed(decoder, events) == ["2"]


def test_a_stuck_key_without_enter_is_too_long_and_forgotten() -> None:
    decoder = KeyDecoder()
    with pytest.raises(CodeTooLong):
        _feed(decoder, [(EV_KEY, 2, PRESS)] * (MAX_CODE_LENGTH + 1))
    assert decoder.pending == 0
    assert _feed(decoder, key_events("42")) == ["42"]


@pytest.mark.parametrize(
    "text", ["134567890123456789", "https://qr.95516.com/00010000/ABC?x=1&y=~_", "a b{}|\"'<>"]
)
def test_key_events_round_trip_through_the_decoder(text: str) -> None:
    assert _feed(KeyDecoder(), key_events(text)) == [text]


def test_key_events_refuse_what_a_us_keyboard_cannot_type() -> None:
    with pytest.raises(ValueError, match="cannot type"):
        key_events("付款码")


def test_a_scanned_code_shows_itself_masked() -> None:
    code = ScannedCode("134567890123456789", "mock scanner")
    assert str(code) == "13************6789"
    assert "134567890123456789" not in repr(code)
    assert code.value == "134567890123456789"
    assert mask_code("12345678") == "********"
