"""Simulated contactless cards: JSON profiles answering command APDUs from a table.

The same ``CardSession.transceive`` answers the EMV kernel in ``MockReader`` and the ISO-DEP
card simulator behind nfcpy's ``udp`` device, so the mock and the real adapter run the same
card. Format (see docs/reader.md)::

    {"name": "visa", "description": "...", "source": "where a recorded trace came from",
     "apdus": [{"command": "00A40400 0E 325041592E5359532E4444463031 00",
                "response": "6F..9000"},
               {"command": "80A80000*", "response": ["6700", "77..9000"]}],
     "removed_after": 3, "collision": false, "unmatched": "6D00"}

``command`` is hex (spaces ignored); ``??`` matches any one byte, a trailing ``*`` any rest.
``response`` is hex or a list answered in turn (the last one repeats).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from appliance.errors import ConfigError

CARDS_DIR = Path(__file__).with_name("cards")
_HEX = re.compile(r"^([0-9A-F]{2})*$")
_PATTERN = re.compile(r"^([0-9A-F]{2}|\?\?)*\*?$")
_KNOWN_KEYS = {
    "name",
    "description",
    "source",
    "apdus",
    "removed_after",
    "collision",
    "unmatched",
    "uid",
}


def _clean(text: str) -> str:
    return "".join(text.split()).upper()


@dataclass(frozen=True)
class ApduRule:
    """One command pattern and the response(s) the card gives to it."""

    pattern: str  # cleaned hex with ?? wildcards and an optional trailing *
    responses: tuple[bytes, ...]

    def matches(self, apdu_hex: str) -> bool:
        """True when the command (upper hex) fits this rule's pattern."""
        pattern = self.pattern
        prefix = pattern.endswith("*")
        if prefix:
            pattern = pattern[:-1]
        if len(apdu_hex) < len(pattern) or (not prefix and len(apdu_hex) != len(pattern)):
            return False
        for i in range(0, len(pattern), 2):
            if pattern[i : i + 2] != "??" and pattern[i : i + 2] != apdu_hex[i : i + 2]:
                return False
        return True


@dataclass(frozen=True)
class CardProfile:
    """A simulated card loaded from JSON."""

    name: str
    description: str
    rules: tuple[ApduRule, ...]
    removed_after: int | None = None
    collision: bool = False
    unmatched: bytes = b"\x6d\x00"
    uid: bytes = b"\x08\x12\x34\x56"
    source: str = "<memory>"  # the file it was loaded from
    origin: str = ""  # where a recorded trace came from (its "source" key)

    def session(self) -> CardSession:
        """A fresh card in the field (response lists restart)."""
        return CardSession(self)


@dataclass
class CardSession:
    """One presentation of a card: answers APDUs and counts them."""

    profile: CardProfile
    count: int = 0
    _turn: dict[int, int] = field(default_factory=dict)

    @property
    def removed(self) -> bool:
        """True once the card has left the field (``removed_after`` APDUs answered)."""
        limit = self.profile.removed_after
        return limit is not None and self.count >= limit

    def transceive(self, apdu: bytes) -> bytes | None:
        """The card's answer to ``apdu``, or None when it has left the field."""
        if self.removed:
            return None
        self.count += 1
        apdu_hex = bytes(apdu).hex().upper()
        for index, rule in enumerate(self.profile.rules):
            if rule.matches(apdu_hex):
                turn = self._turn.get(index, 0)
                self._turn[index] = turn + 1
                return rule.responses[min(turn, len(rule.responses) - 1)]
        return self.profile.unmatched


def _hex_bytes(value: object, where: str, source: str) -> bytes:
    if not isinstance(value, str) or not _HEX.match(_clean(value)) or len(_clean(value)) < 4:
        raise ConfigError(f"card profile {source}: {where} must be hex with a status word")
    return bytes.fromhex(_clean(value))


def parse_profile(raw: object, source: str = "<memory>") -> CardProfile:
    """Validate a decoded JSON profile; ConfigError names ``source`` and the problem."""
    if not isinstance(raw, dict):
        raise ConfigError(f"card profile {source}: the top level must be an object")
    unknown = set(raw) - _KNOWN_KEYS
    if unknown:
        raise ConfigError(f"card profile {source}: unknown keys {sorted(unknown)}")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"card profile {source}: 'name' must be a non-empty string")
    apdus = raw.get("apdus", [])
    if not isinstance(apdus, list):
        raise ConfigError(f"card profile {source}: 'apdus' must be a list")
    rules = []
    for i, entry in enumerate(apdus):
        if not isinstance(entry, dict) or set(entry) != {"command", "response"}:
            raise ConfigError(
                f"card profile {source}: apdus[{i}] needs exactly 'command' and 'response'"
            )
        command = entry["command"]
        if not isinstance(command, str) or not _PATTERN.match(_clean(command)):
            raise ConfigError(
                f"card profile {source}: apdus[{i}].command must be hex (?? and trailing * allowed)"
            )
        responses = entry["response"]
        if isinstance(responses, str):
            responses = [responses]
        if not isinstance(responses, list) or not responses:
            raise ConfigError(f"card profile {source}: apdus[{i}].response must be hex or a list")
        rules.append(
            ApduRule(
                _clean(command),
                tuple(_hex_bytes(r, f"apdus[{i}].response", source) for r in responses),
            )
        )
    removed_after = raw.get("removed_after")
    if removed_after is not None and (
        not isinstance(removed_after, int) or isinstance(removed_after, bool) or removed_after < 0
    ):
        raise ConfigError(f"card profile {source}: 'removed_after' must be a whole number ≥ 0")
    collision = raw.get("collision", False)
    if not isinstance(collision, bool):
        raise ConfigError(f"card profile {source}: 'collision' must be true or false")
    unmatched = _hex_bytes(raw.get("unmatched", "6D00"), "'unmatched'", source)
    uid_hex = raw.get("uid", "08123456")
    if not isinstance(uid_hex, str) or not _HEX.match(_clean(uid_hex)) or len(_clean(uid_hex)) != 8:
        raise ConfigError(f"card profile {source}: 'uid' must be 4 bytes of hex")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"card profile {source}: 'description' must be a string")
    origin = raw.get("source", "")
    if not isinstance(origin, str):
        raise ConfigError(f"card profile {source}: 'source' must be a string")
    return CardProfile(
        name=name,
        description=description,
        rules=tuple(rules),
        removed_after=removed_after,
        collision=collision,
        unmatched=unmatched,
        uid=bytes.fromhex(_clean(uid_hex)),
        source=source,
        origin=origin,
    )


def load_profile(path: Path) -> CardProfile:
    """Load one JSON profile file; ConfigError names the file and the problem."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"card profile {path}: cannot read it ({exc.strerror})") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"card profile {path}: not valid JSON ({exc})") from exc
    return parse_profile(raw, str(path))


def find_profile(name_or_path: str | Path, cards_dir: Path | None = None) -> CardProfile:
    """A profile by name (``visa`` → ``cards_dir/visa.json``) or by path to a JSON file."""
    directory = cards_dir or CARDS_DIR
    text = str(name_or_path)
    candidate = Path(text)
    if text.endswith(".json") or candidate.is_absolute() or "/" in text:
        return load_profile(candidate)
    path = directory / f"{text}.json"
    if not path.is_file():
        known = ", ".join(available_cards(directory)) or "none"
        raise ConfigError(f"unknown card profile {text!r} in {directory} (known: {known})")
    return load_profile(path)


def available_cards(cards_dir: Path | None = None) -> list[str]:
    """Names of the profiles in ``cards_dir`` (default: the shipped ones)."""
    directory = cards_dir or CARDS_DIR
    return sorted(p.stem for p in directory.glob("*.json"))
