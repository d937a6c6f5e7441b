"""The terminal's link to the QR gateway: signed JSON over HTTP with httpx.

One ``httpx.Client`` (keep-alive) per terminal. Every request carries ``tid``, ``mid``, a
fresh ``nonce_str`` and its HMAC-SHA256 ``sign`` (``appliance.domain.qr.sign``); every answer's
signature is checked before anything in it is believed. httpx's exceptions are translated
here, by what they say about the request:

- the connection could not be made (``ConnectError``, ``ConnectTimeout``) → ``NotSent``: the
  gateway cannot have acted on it;
- anything after that (a read timeout, a dropped connection, an HTTP error status, a body that
  is not JSON, a signature that fails) → ``NoResponse`` (or ``QrSignatureError``): the outcome
  is unknown and the order goes into the query loop.

The payment code (``auth_code``) is sent and forgotten: it is never logged.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

import httpx

from appliance.domain.qr import sign, verify
from appliance.errors import NoResponse, NotSent

log = logging.getLogger(__name__)

APIS = ("pay", "precreate", "query", "cancel", "refund", "refundquery")


class QrSignatureError(NoResponse):
    """An answer from the QR gateway failed its signature check (treated as no answer)."""


class QrGatewayClient:
    """Signed requests to the QR gateway at ``base_url`` for one terminal."""

    def __init__(
        self,
        base_url: str,
        tid: str,
        mid: str,
        key: str,
        *,
        timeout: float = 10.0,
        connect_timeout: float = 3.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.tid = tid
        self.mid = mid
        self._key = key
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            transport=transport,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def signed(self, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` with this terminal's ids, a fresh nonce and the signature."""
        body = {"tid": self.tid, "mid": self.mid, "nonce_str": secrets.token_hex(8), **params}
        body["sign"] = sign(body, self._key)
        return body

    def call(
        self, api: str, params: dict[str, Any], timeout: float | None = None
    ) -> dict[str, Any]:
        """Send one request; the verified answer (NotSent / NoResponse / QrSignatureError)."""
        if api not in APIS:
            raise ValueError(f"unknown QR gateway API {api!r}")
        body = self.signed(params)
        kw: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        try:
            resp = self._client.post(f"/qr/v1/{api}", json=body, **kw)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise NotSent(
                f"QR gateway {self.base_url} unreachable ({type(exc).__name__}): nothing was "
                f"sent; check the network or use a card"
            ) from exc
        except httpx.TimeoutException as exc:
            raise NoResponse(f"no answer from the QR gateway in time ({api})") from exc
        except httpx.HTTPError as exc:
            raise NoResponse(
                f"the QR gateway connection broke ({api}: {type(exc).__name__})"
            ) from exc
        if resp.status_code >= 500:
            raise NoResponse(f"the QR gateway answered HTTP {resp.status_code} ({api})")
        try:
            answer = resp.json()
        except ValueError as exc:
            raise NoResponse(f"the QR gateway's answer is not JSON ({api})") from exc
        if not isinstance(answer, dict):
            raise NoResponse(f"the QR gateway's answer is not a JSON object ({api})")
        if "sign" not in answer and answer.get("err_code") == "MCHID_INVALID":
            return answer  # the gateway does not know this terminal, so it cannot sign
        if not verify(answer, self._key):
            raise QrSignatureError(f"the QR gateway's answer failed its signature check ({api})")
        return answer

    def reach(self) -> str:
        """ "" when the gateway answers a signed query, else why not (for selftest/status)."""
        try:
            self.call("query", {"out_trade_no": "PING"}, timeout=3.0)
        except (NotSent, NoResponse) as exc:
            return str(exc)
        return ""
