"""Ed25519 signatures over parameter changes (the back office signs, terminals verify)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from appliance.domain.fleet import ParamsRejected, signed_body
from appliance.errors import ConfigError


def generate() -> tuple[bytes, bytes]:
    """A new key pair as raw bytes: (private 32, public 32)."""
    from cryptography.hazmat.primitives import serialization

    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return raw, public_of(raw)


def public_of(private: bytes) -> bytes:
    """The raw public key of a raw private key."""
    from cryptography.hazmat.primitives import serialization

    return (
        Ed25519PrivateKey.from_private_bytes(private)
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )


def read_private(path: Path) -> bytes:
    """A private key file (64 hex digits); ConfigError saying what is wrong."""
    try:
        text = path.read_text(encoding="ascii").strip()
        raw = bytes.fromhex(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the signing key: {exc}") from exc
    if len(raw) != 32:
        raise ConfigError(f"{path}: not an Ed25519 private key (64 hex digits)")
    return raw


def sign(doc: dict[str, Any], private: bytes) -> dict[str, Any]:
    """``doc`` with ``sig`` (hex) over its canonical form."""
    signed = {k: v for k, v in doc.items() if k != "sig"}
    signed["sig"] = Ed25519PrivateKey.from_private_bytes(private).sign(signed_body(signed)).hex()
    return signed


def verify(payload: bytes, public_hex: str) -> dict[str, Any]:
    """The decoded message if its signature verifies; ParamsRejected otherwise."""
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParamsRejected("malformed", f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("sig"), str):
        raise ParamsRejected("malformed", "no signature")
    try:
        sig = bytes.fromhex(doc["sig"])
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex)).verify(sig, signed_body(doc))
    except (ValueError, InvalidSignature):
        raise ParamsRejected(
            "bad_signature", "the signature does not verify with the office public key"
        ) from None
    return doc
