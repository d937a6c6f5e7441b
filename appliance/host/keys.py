"""Terminal keys: TMK entry, working-key unwrap with check values, and the X9.19 retail MAC.

Working keys are double-length 3DES (16 bytes, odd parity); a TMK may be double or triple
length. The TMK (terminal master key) is entered
once under dual control as XOR components; on every sign-on the host sends a fresh PIK and MAK
encrypted under the TMK (3DES ECB), each with its key check value (KCV: the first three bytes
of the key encrypting eight zero bytes, as six hex digits).

pyemv still reaches 3DES through cryptography's deprecated import path; the two deprecation
warnings that causes are filtered by exact message, nothing else is silenced.
"""

from __future__ import annotations

import hmac
import secrets
import warnings
from functools import lru_cache, reduce

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from cryptography.utils import CryptographyDeprecationWarning
from pyemv import tools as _pyemv_tools

from appliance.errors import ConfigError, KeyCheckError
from appliance.host.messages import WorkingKeys

KEY_LEN = 16
MAC_LEN = 8
# X9.19 over ISO/IEC 9797-1 padding method 1 (zero bytes up to the block boundary): the
# classic retail-MAC padding that POS hosts use; method 2 would append 0x80 first.
MAC_PADDING = 1


def _quiet_tdes_warnings() -> None:
    """Filter exactly pyemv's two 3DES deprecation warnings.

    Called before every pyemv call rather than once: test runners and ``catch_warnings``
    blocks restore the filter list, and re-adding an identical filter only moves it.
    """
    warnings.filterwarnings(
        "ignore", message="TripleDES has been moved", category=CryptographyDeprecationWarning
    )
    warnings.filterwarnings(
        "ignore",
        message=r"(Single|Two)-key TripleDES",
        category=CryptographyDeprecationWarning,
    )


def _check_key(key: bytes, what: str = "key", lengths: tuple[int, ...] = (KEY_LEN,)) -> None:
    if not isinstance(key, bytes | bytearray) or len(key) not in lengths:
        raise ConfigError(f"{what} must be {' or '.join(map(str, lengths))} bytes (3DES)")


def _check_tmk(tmk: bytes) -> None:
    _check_key(tmk, "TMK", (16, 24))


def _tdes(key: bytes) -> Cipher:
    # Three-key form of a double-length key: same cipher, no "two-key" deprecation warning.
    full = bytes(key) + bytes(key[:8]) if len(key) == KEY_LEN else bytes(key)
    return Cipher(TripleDES(full), modes.ECB())


def kcv(key: bytes, digits: int = 6) -> str:
    """The key check value of ``key`` (3DES of eight zero bytes): ``digits`` upper-case hex
    digits, six by default; UnionPay sends four bytes (eight digits)."""
    _check_key(key)
    if digits not in (6, 8):
        raise ConfigError(f"a check value has 6 or 8 hex digits, not {digits}")
    _quiet_tdes_warnings()
    return _pyemv_tools.key_check_digits(bytes(key), digits // 2).hex().upper()


def generate_key() -> bytes:
    """A fresh random double-length 3DES key with odd parity."""
    _quiet_tdes_warnings()
    return _pyemv_tools.adjust_key_parity(secrets.token_bytes(KEY_LEN))


def wrap_key(tmk: bytes, key: bytes) -> bytes:
    """``key`` encrypted under ``tmk`` (3DES ECB), as the host sends it at sign-on."""
    _check_tmk(tmk)
    _check_key(key)
    enc = _tdes(tmk).encryptor()
    return enc.update(bytes(key)) + enc.finalize()


def unwrap_key(tmk: bytes, wrapped: bytes) -> bytes:
    """Decrypt a key that was encrypted under ``tmk``."""
    _check_tmk(tmk)
    if len(wrapped) != KEY_LEN:
        raise KeyCheckError(f"an encrypted key must be {KEY_LEN} bytes, got {len(wrapped)}")
    dec = _tdes(tmk).decryptor()
    return dec.update(bytes(wrapped)) + dec.finalize()


def unwrap_working_keys(tmk: bytes, wk: WorkingKeys) -> tuple[bytes, bytes]:
    """Decrypt the PIK and MAK of a sign-on response and verify each check value.

    Returns ``(pik, mak)``. Raises KeyCheckError when a check value does not match: the TMK
    on this terminal differs from the host's, or the keys were damaged.
    """
    pik = unwrap_key(tmk, wk.pik)
    mak = unwrap_key(tmk, wk.mak)
    for name, key, expected in (("PIK", pik, wk.pik_kcv), ("MAK", mak, wk.mak_kcv)):
        # As long as the dialect sends it: six hex digits (iso87) or four bytes (cup).
        got = kcv(key, len(expected)) if len(expected) in (6, 8) else kcv(key)
        if not hmac.compare_digest(got, expected.upper()):
            raise KeyCheckError(
                f"{name} check value mismatch (host {expected}, computed {got}): "
                "the terminal master key differs from the host's; re-enter the TMK"
            )
    return pik, mak


# Derivation data of the sign-on authentication key (two 8-byte blocks, ASCII).
SIGNON_DERIVATION = (b"SIGNON-1", b"SIGNON-2")


def signon_key(tmk: bytes) -> bytes:
    """The TMK-derived key that MACs a sign-on (0800/0810): proof that both ends hold the TMK.

    ``E_TMK("SIGNON-1") || E_TMK("SIGNON-2")`` (3DES ECB under the TMK), parity adjusted to
    odd. Only a holder of the TMK can compute it, so only the terminal can make the host issue
    new working keys, and only the host can answer with them. See docs/host.md.
    """
    _check_tmk(tmk)
    enc = _tdes(tmk).encryptor()
    raw = enc.update(b"".join(SIGNON_DERIVATION)) + enc.finalize()
    _quiet_tdes_warnings()
    return _pyemv_tools.adjust_key_parity(raw)


def combine_components(components: list[bytes]) -> bytes:
    """The TMK from two or three 16-byte clear components (XOR), parity adjusted to odd."""
    if not 2 <= len(components) <= 3:
        raise ConfigError("a TMK is entered as 2 or 3 components")
    for i, comp in enumerate(components, 1):
        _check_key(comp, f"component {i}")
    _quiet_tdes_warnings()
    combined = reduce(lambda a, b: bytes(x ^ y for x, y in zip(a, b, strict=True)), components)
    return _pyemv_tools.adjust_key_parity(combined)


@lru_cache(maxsize=64)
def _x919_ciphers(mak: bytes) -> tuple[TripleDES, Cipher]:
    # Per MAK: single DES under K1 (as the three-key K1K1K1) for the CBC chain, and 3DES
    # EDE K1-K2-K1 for the last block. Cached because building them per message cost more
    # than the MAC itself; the cache holds only keys the process already keeps in memory.
    k1 = mak[:8]
    return TripleDES(k1 * 3), Cipher(TripleDES(mak + k1), modes.ECB())


_ZERO_BLOCK = bytes(8)


def retail_mac(mak: bytes, data: bytes) -> bytes:
    """ANSI X9.19 (ISO/IEC 9797-1 algorithm 3) retail MAC of ``data`` under ``mak``: 8 bytes.

    Single-DES CBC under K1 over every block but the last, then the last block (XORed with
    that chain value) under 3DES K1-K2-K1: the same value as ``E_K1(D_K2(E_K1(...)))`` of the
    textbook form, and byte-identical to pyemv's ``mac_iso9797_3`` (the tests check that).
    """
    _check_key(mak, "MAK")
    data = bytes(data)
    # Padding method 1: zeros up to the block boundary; empty data is one zero block.
    rem = len(data) % 8
    if rem or not data:
        data += bytes(8 - rem)
    chain, final = _x919_ciphers(bytes(mak))
    last = data[-8:]
    if len(data) > 8:
        h = Cipher(chain, modes.CBC(_ZERO_BLOCK)).encryptor().update(data[:-8])[-8:]
        last = (int.from_bytes(h, "big") ^ int.from_bytes(last, "big")).to_bytes(8, "big")
    return final.encryptor().update(last)


def cup_ecb_mac(mak: bytes, data: bytes) -> bytes:
    """The UnionPay POS "ECB" MAC of ``data`` under ``mak``: 8 ASCII hex characters.

    XOR all 8-byte blocks (zero padded); hex the result to 16 characters; encrypt the first
    8 under the MAK, XOR with the last 8, encrypt again; the MAC is the first 8 hex
    characters of that.
    """
    _check_key(mak, "MAK")
    data = bytes(data) + b"\0" * (-len(data) % 8)
    block = bytes(8)
    for i in range(0, len(data), 8):
        block = bytes(a ^ b for a, b in zip(block, data[i : i + 8], strict=True))
    text = block.hex().upper().encode("ascii")
    enc = _tdes(mak).encryptor()
    first = enc.update(text[:8])
    second = enc.update(bytes(a ^ b for a, b in zip(first, text[8:], strict=True)))
    return second.hex().upper()[:8].encode("ascii")


MAC_ALGORITHMS = {"x919": retail_mac, "cup_ecb": cup_ecb_mac}


def mac_of(algorithm: str, mak: bytes, data: bytes) -> bytes:
    """The MAC of ``data`` by ``algorithm`` (``x919`` or ``cup_ecb``)."""
    try:
        fn = MAC_ALGORITHMS[algorithm]
    except KeyError:
        raise ConfigError(f"unknown MAC algorithm {algorithm!r}") from None
    return fn(mak, data)


def mac_matches(mak: bytes, data: bytes, mac: bytes, algorithm: str = "x919") -> bool:
    """True when ``mac`` is the MAC of ``data`` (constant-time comparison)."""
    return hmac.compare_digest(mac_of(algorithm, mak, data), bytes(mac))
