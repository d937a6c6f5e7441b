"""Linux key codes of a keyboard-wedge scanner → characters (US layout), and a decoder.

A USB HID scanner in keyboard mode "types" each code followed by Enter. The codes below are
the stable kernel ABI from ``include/uapi/linux/input-event-codes.h`` (the test compares them
with python-evdev's ``ecodes``, which is generated from that header), so this module needs no
evdev and is pure. Scanners must be set to the US keyboard layout (the factory default of
most); national layouts move the punctuation.
"""

from __future__ import annotations

from drivers.scanner.base import MAX_CODE_LENGTH

EV_SYN = 0
EV_KEY = 1
SYN_DROPPED = 3

KEY_LEFTSHIFT = 42
KEY_RIGHTSHIFT = 54
KEY_ENTER = 28
KEY_KPENTER = 96

#: key code → (unshifted, shifted) on a US keyboard.
KEYMAP: dict[int, tuple[str, str]] = {
    2: ("1", "!"),
    3: ("2", "@"),
    4: ("3", "#"),
    5: ("4", "$"),
    6: ("5", "%"),
    7: ("6", "^"),
    8: ("7", "&"),
    9: ("8", "*"),
    10: ("9", "("),
    11: ("0", ")"),
    12: ("-", "_"),
    13: ("=", "+"),
    16: ("q", "Q"),
    17: ("w", "W"),
    18: ("e", "E"),
    19: ("r", "R"),
    20: ("t", "T"),
    21: ("y", "Y"),
    22: ("u", "U"),
    23: ("i", "I"),
    24: ("o", "O"),
    25: ("p", "P"),
    26: ("[", "{"),
    27: ("]", "}"),
    30: ("a", "A"),
    31: ("s", "S"),
    32: ("d", "D"),
    33: ("f", "F"),
    34: ("g", "G"),
    35: ("h", "H"),
    36: ("j", "J"),
    37: ("k", "K"),
    38: ("l", "L"),
    39: (";", ":"),
    40: ("'", '"'),
    41: ("`", "~"),
    43: ("\\", "|"),
    44: ("z", "Z"),
    45: ("x", "X"),
    46: ("c", "C"),
    47: ("v", "V"),
    48: ("b", "B"),
    49: ("n", "N"),
    50: ("m", "M"),
    51: (",", "<"),
    52: (".", ">"),
    53: ("/", "?"),
    55: ("*", "*"),  # KEY_KPASTERISK
    57: (" ", " "),
    71: ("7", "7"),  # keypad digits: some scanners type digits on the keypad
    72: ("8", "8"),
    73: ("9", "9"),
    74: ("-", "-"),  # KEY_KPMINUS
    75: ("4", "4"),
    76: ("5", "5"),
    77: ("6", "6"),
    78: ("+", "+"),  # KEY_KPPLUS
    79: ("1", "1"),
    80: ("2", "2"),
    81: ("3", "3"),
    82: ("0", "0"),
    83: (".", "."),  # KEY_KPDOT
    98: ("/", "/"),  # KEY_KPSLASH
}

#: Names of the codes above, for the cross-check against python-evdev (tests).
KEY_NAMES = {
    "KEY_LEFTSHIFT": KEY_LEFTSHIFT,
    "KEY_RIGHTSHIFT": KEY_RIGHTSHIFT,
    "KEY_ENTER": KEY_ENTER,
    "KEY_KPENTER": KEY_KPENTER,
    "KEY_1": 2,
    "KEY_0": 11,
    "KEY_EQUAL": 13,
    "KEY_Q": 16,
    "KEY_P": 25,
    "KEY_RIGHTBRACE": 27,
    "KEY_A": 30,
    "KEY_L": 38,
    "KEY_GRAVE": 41,
    "KEY_BACKSLASH": 43,
    "KEY_Z": 44,
    "KEY_M": 50,
    "KEY_SLASH": 53,
    "KEY_KPASTERISK": 55,
    "KEY_SPACE": 57,
    "KEY_KP7": 71,
    "KEY_KPMINUS": 74,
    "KEY_KPPLUS": 78,
    "KEY_KP0": 82,
    "KEY_KPDOT": 83,
    "KEY_KPSLASH": 98,
}


class CodeTooLong(ValueError):
    """More than ``MAX_CODE_LENGTH`` characters arrived without an Enter."""


class KeyDecoder:
    """Turns key events into codes: feed ``(type, code, value)``; Enter completes a code.

    ``value`` is 1 for a press, 0 for a release and 2 for auto-repeat (ignored: a scanner
    never holds a key, and a repeat would double a digit). Shift is tracked from its press and
    release. Keys outside the map (F-keys, Ctrl, CapsLock) are ignored. A ``SYN_DROPPED``
    (the kernel's buffer overflowed) discards the partial code: characters were lost.
    """

    def __init__(self) -> None:
        self._chars: list[str] = []
        self._shift: set[int] = set()

    @property
    def pending(self) -> int:
        """Characters received since the last Enter (or reset)."""
        return len(self._chars)

    def reset(self) -> None:
        """Forget any partial code (shift state is kept: it mirrors the keys held now)."""
        self._chars.clear()

    def feed(self, ev_type: int, code: int, value: int) -> str | None:
        """Process one event; return the completed code on Enter, else None.

        Raises ``CodeTooLong`` (and forgets the partial code) past ``MAX_CODE_LENGTH``.
        """
        if ev_type == EV_SYN and code == SYN_DROPPED:
            self.reset()
            return None
        if ev_type != EV_KEY:
            return None
        if code in (KEY_LEFTSHIFT, KEY_RIGHTSHIFT):
            if value == 1:
                self._shift.add(code)
            elif value == 0:
                self._shift.discard(code)
            return None
        if value != 1:
            return None
        if code in (KEY_ENTER, KEY_KPENTER):
            text, self._chars = "".join(self._chars), []
            return text
        pair = KEYMAP.get(code)
        if pair is None:
            return None
        self._chars.append(pair[1] if self._shift else pair[0])
        if len(self._chars) > MAX_CODE_LENGTH:
            self.reset()
            raise CodeTooLong(f"more than {MAX_CODE_LENGTH} characters without an Enter")
        return None


def key_events(text: str) -> list[tuple[int, int, int]]:
    """The key events a US-layout wedge scanner sends for ``text`` followed by Enter.

    Used by the simulated devices (a uinput keyboard in tests) to type like a real scanner.
    """
    reverse: dict[str, tuple[int, bool]] = {}
    for code, (plain, shifted) in KEYMAP.items():
        if code >= 55 and code != 57:
            continue  # type with the main block, as scanners do by default
        reverse.setdefault(plain, (code, False))
        reverse.setdefault(shifted, (code, shifted != plain))
    events: list[tuple[int, int, int]] = []
    for ch in text:
        if ch not in reverse:
            raise ValueError(f"a US-layout scanner cannot type {ch!r}")
        code, shift = reverse[ch]
        if shift:
            events.append((EV_KEY, KEY_LEFTSHIFT, 1))
        events += [(EV_KEY, code, 1), (EV_KEY, code, 0)]
        if shift:
            events.append((EV_KEY, KEY_LEFTSHIFT, 0))
    events += [(EV_KEY, KEY_ENTER, 1), (EV_KEY, KEY_ENTER, 0)]
    return events
