"""The reference QR gateway: HTTP + JSON, signed both ways, idempotent on the order number.

Modelled on the public barcode-pay APIs (WeChat Pay micropay / orderquery / reverse / refund /
refundquery, Alipay alipay.trade.pay / query / cancel / refund / precreate): every request is
``POST /qr/v1/{api}`` with a flat JSON object carrying ``tid``, ``mid``, ``nonce_str`` and
``sign`` (HMAC-SHA256 under the terminal's key, ``appliance.domain.qr.sign``); every answer
carries ``return_code`` (the request was understood and its signature valid), ``result_code``,
``err_code`` and ``trade_state``, signed with the same key.

APIs: ``pay`` (customer-presented code), ``precreate`` (merchant-presented dynamic code),
``query``, ``cancel`` (撤销: closes a waiting trade, refunds a paid one), ``refund`` (partial
allowed, idempotent on ``out_refund_no``) and ``refundquery``. A repeated ``pay`` or
``precreate`` with the same ``out_trade_no`` and amount answers the trade's current state and
never charges twice; with another amount it is refused (OUT_TRADE_NO_USED).

Deterministic decisions: an amount ending in .51 is refused NOTENOUGH (余额不足). Faults
(``set_fault`` or ``POST /sim/fault``): see ``FAULTS``. ``POST /sim/scan`` is the customer's
phone paying a merchant-presented code. ``GET /sim/trades`` lists the books.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from appliance.domain.qr import BadPaymentCode, classify_code, sign, verify
from appliance.errors import ConfigError
from appliance.sim.qrgateway.book import QrBook, buyer_of

log = logging.getLogger(__name__)

# name → (parameters with defaults, what it does)
FAULTS: dict[str, tuple[dict[str, Any], str]] = {
    "userpaying": (
        {"after": None, "times": None},
        "pay answers USERPAYING; the customer confirms after `after` seconds (None: never)",
    ),
    "pay_timeout_after_commit": (
        {"hold": 30.0, "times": 1},
        "pay is committed SUCCESS, then its answer is held `hold` seconds (the terminal times out)",
    ),
    "query_unknown": ({"times": 1}, "query answers SYSTEMERROR"),
    "cancel_fails": ({"times": 1}, "cancel answers SYSTEMERROR with recall=Y"),
    "refund_pending": (
        {"after": 0.5, "times": None},
        "refund answers PROCESSING; it succeeds `after` seconds later",
    ),
    "bad_signature": ({"times": 1}, "the answer is signed with a wrong key"),
}


class QrGateway:
    """The gateway's logic over its books; ``app`` is the Starlette application serving it.

    ``terminals`` maps TID → signing key (text); ``mids`` maps TID → MID.
    """

    def __init__(
        self,
        ledger_path: str | Path,
        terminals: Mapping[str, str],
        mids: Mapping[str, str] | None = None,
        *,
        base_url: str = "http://127.0.0.1",
        clock: Any = None,
    ) -> None:
        self.book = QrBook(ledger_path, clock=clock)
        self.keys = dict(terminals)
        self.mids = dict(mids or {})
        self.base_url = base_url
        self._faults: dict[str, dict[str, Any]] = {}
        self._flock = threading.Lock()
        self.requests: list[tuple[str, dict[str, Any]]] = []  # (api, params) for tests
        self.app = Starlette(
            routes=[
                Route("/qr/v1/{api}", self._endpoint, methods=["POST"]),
                Route("/sim/fault", self._set_fault_ep, methods=["POST"]),
                Route("/sim/clear", self._clear_ep, methods=["POST"]),
                Route("/sim/scan", self._scan_ep, methods=["POST"]),
                Route("/sim/trades", self._trades_ep, methods=["GET"]),
                Route("/sim/ping", self._ping, methods=["GET"]),
            ]
        )

    # ---- faults --------------------------------------------------------------------------

    def set_fault(self, name: str, **params: Any) -> None:
        """Switch a fault on (see ``FAULTS``); unknown names or parameters are ConfigErrors."""
        if name not in FAULTS:
            raise ConfigError(f"unknown QR fault {name!r}: choose from {', '.join(FAULTS)}")
        defaults, _ = FAULTS[name]
        bad = set(params) - set(defaults)
        if bad:
            raise ConfigError(f"QR fault {name}: unknown parameter(s) {', '.join(sorted(bad))}")
        with self._flock:
            self._faults[name] = {**defaults, **params}

    def clear_faults(self, name: str | None = None) -> None:
        """Switch one fault (or all) off."""
        with self._flock:
            if name is None:
                self._faults.clear()
            else:
                self._faults.pop(name, None)

    def faults(self) -> dict[str, dict[str, Any]]:
        """The faults switched on, with their parameters."""
        with self._flock:
            return {k: dict(v) for k, v in self._faults.items()}

    def _take(self, name: str) -> dict[str, Any] | None:
        """The fault's parameters if it is on, counting one use."""
        with self._flock:
            f = self._faults.get(name)
            if f is None:
                return None
            if f.get("times") is not None:
                f["times"] -= 1
                if f["times"] <= 0:
                    del self._faults[name]
            return dict(f)

    # ---- HTTP ----------------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> JSONResponse:
        api = request.path_params["api"]
        try:
            params = await request.json()
        except ValueError:
            params = None
        except ClientDisconnect:  # the terminal went away mid-request (kill -9): nothing done
            return JSONResponse({"return_code": "FAIL", "err_code": "PARAM_ERROR"}, 400)
        if not isinstance(params, dict):
            return JSONResponse(
                {"return_code": "FAIL", "err_code": "PARAM_ERROR", "return_msg": "not JSON"}, 400
            )
        answer, hold = await run_in_threadpool(self.handle, api, params)
        if hold:
            await asyncio.sleep(hold)
        return JSONResponse(answer)

    async def _set_fault_ep(self, request: Request) -> JSONResponse:
        body = await request.json()
        try:
            self.set_fault(str(body.pop("name")), **body)
        except (ConfigError, KeyError) as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse({"ok": True, "faults": self.faults()})

    async def _clear_ep(self, request: Request) -> JSONResponse:
        body = await request.json() if await request.body() else {}
        self.clear_faults(body.get("name"))
        return JSONResponse({"ok": True})

    async def _scan_ep(self, request: Request) -> JSONResponse:
        body = await request.json()
        ok = await run_in_threadpool(
            self.customer_scans, str(body["out_trade_no"]), str(body.get("wallet", "ALIPAY"))
        )
        return JSONResponse({"ok": ok})

    async def _trades_ep(self, request: Request) -> JSONResponse:
        return JSONResponse(await run_in_threadpool(self.book.trades))

    async def _ping(self, request: Request) -> JSONResponse:
        return JSONResponse({"pong": True})

    # ---- the APIs ------------------------------------------------------------------------

    def handle(self, api: str, params: dict[str, Any]) -> tuple[dict[str, Any], float]:
        """Answer one request (signed); returns the answer and how long to hold it."""
        self.requests.append((api, {k: v for k, v in params.items() if k != "auth_code"}))
        tid = str(params.get("tid", ""))
        key = self.keys.get(tid)
        if key is None:
            return {"return_code": "FAIL", "err_code": "MCHID_INVALID", "return_msg": tid}, 0.0
        if not verify(params, key):
            return self._signed(
                {"return_code": "FAIL", "err_code": "SIGNERROR", "return_msg": "签名错误"}, key
            ), 0.0
        if self.mids.get(tid, params.get("mid")) != params.get("mid"):
            return self._signed({"return_code": "FAIL", "err_code": "MCHID_INVALID"}, key), 0.0
        handler = getattr(self, f"_api_{api}", None)
        if handler is None:
            return self._signed({"return_code": "FAIL", "err_code": "PARAM_ERROR"}, key), 0.0
        hold = 0.0
        try:
            body, hold = handler(params)
        except (KeyError, ValueError, TypeError) as exc:
            body = {"return_code": "FAIL", "err_code": "PARAM_ERROR", "return_msg": str(exc)}
        body.setdefault("return_code", "SUCCESS")
        if self._take("bad_signature"):
            return self._signed(body, key + "-wrong"), hold
        return self._signed(body, key), hold

    def _signed(self, body: dict[str, Any], key: str) -> dict[str, Any]:
        body = {k: v for k, v in body.items() if v is not None}
        body["nonce_str"] = secrets.token_hex(8)
        body["sign"] = sign(body, key)
        return body

    @staticmethod
    def _trade_answer(t: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {
            "result_code": "SUCCESS",
            "out_trade_no": t["out_trade_no"],
            "trade_no": t["trade_no"],
            "trade_state": t["state"],
            "wallet": t["wallet"],
            "buyer_id": t["buyer"],
            "total_amount": t["amount"],
            "currency": t["currency"],
            "refunded_amount": t["refunded"],
            **extra,
        }

    @staticmethod
    def _fail(err: str, msg: str = "", **extra: Any) -> dict[str, Any]:
        return {"result_code": "FAIL", "err_code": err, "err_code_des": msg, **extra}

    def _api_pay(self, p: dict[str, Any]) -> tuple[dict[str, Any], float]:
        out_trade_no = str(p["out_trade_no"])
        amount = int(p["total_amount"])
        try:
            wallet = classify_code(str(p["auth_code"]))
        except BadPaymentCode:
            return self._fail("AUTH_CODE_INVALID", "付款码无效"), 0.0
        with self.book.tx() as db:
            t = self.book.trade(db, out_trade_no)
            if t is not None:  # a repeat: the same order, never a second charge
                if t["amount"] != amount or t["tid"] != p["tid"]:
                    return self._fail("OUT_TRADE_NO_USED", "商户订单号重复"), 0.0
                return self._pay_answer(t), 0.0
            if amount <= 0:
                return self._fail("PARAM_ERROR", "amount"), 0.0
            if amount % 100 == 51:
                self.book.create(
                    db,
                    out_trade_no=out_trade_no,
                    tid=str(p["tid"]),
                    mid=str(p["mid"]),
                    wallet=wallet.value,
                    mode="scan",
                    amount=amount,
                    currency=str(p.get("currency", "CNY")),
                    state="CLOSED",
                    buyer=buyer_of(str(p["auth_code"]), wallet.value),
                )
                return self._fail("NOTENOUGH", "余额不足"), 0.0
            userpaying = self._take("userpaying")
            timeout = None if userpaying else self._take("pay_timeout_after_commit")
            pay_after = None
            if userpaying and userpaying["after"] is not None:
                pay_after = self.book.now().timestamp() + float(userpaying["after"])
            t = self.book.create(
                db,
                out_trade_no=out_trade_no,
                tid=str(p["tid"]),
                mid=str(p["mid"]),
                wallet=wallet.value,
                mode="scan",
                amount=amount,
                currency=str(p.get("currency", "CNY")),
                state="WAIT_BUYER_PAY" if userpaying else "SUCCESS",
                buyer=buyer_of(str(p["auth_code"]), wallet.value),
                pay_after=pay_after,
            )
        return self._pay_answer(t), float(timeout["hold"]) if timeout else 0.0

    def _pay_answer(self, t: dict[str, Any]) -> dict[str, Any]:
        if t["state"] == "WAIT_BUYER_PAY":
            return self._fail("USERPAYING", "需要用户输入支付密码", **self._ids(t))
        if t["state"] == "CLOSED":
            return self._fail("ORDERCLOSED", "订单已关闭", **self._ids(t))
        return self._trade_answer(t)

    @staticmethod
    def _ids(t: dict[str, Any]) -> dict[str, Any]:
        return {
            "out_trade_no": t["out_trade_no"],
            "trade_no": t["trade_no"],
            "trade_state": t["state"],
        }

    def _api_precreate(self, p: dict[str, Any]) -> tuple[dict[str, Any], float]:
        out_trade_no = str(p["out_trade_no"])
        amount = int(p["total_amount"])
        with self.book.tx() as db:
            t = self.book.trade(db, out_trade_no)
            if t is not None and (t["amount"] != amount or t["tid"] != p["tid"]):
                return self._fail("OUT_TRADE_NO_USED", "商户订单号重复"), 0.0
            if t is None:
                if amount <= 0:
                    return self._fail("PARAM_ERROR", "amount"), 0.0
                t = self.book.create(
                    db,
                    out_trade_no=out_trade_no,
                    tid=str(p["tid"]),
                    mid=str(p["mid"]),
                    wallet="",
                    mode="show",
                    amount=amount,
                    currency=str(p.get("currency", "CNY")),
                    state="WAIT_BUYER_PAY",
                )
        return self._trade_answer(t, code_url=f"{self.base_url}/sim/c/{t['trade_no']}"), 0.0

    def customer_scans(self, out_trade_no: str, wallet: str = "ALIPAY") -> bool:
        """The customer's phone pays a merchant-presented code; False if it cannot be paid."""
        with self.book.tx() as db:
            t = self.book.trade(db, out_trade_no)
            if t is None or t["state"] != "WAIT_BUYER_PAY":
                return False
            self.book.pay_now(db, t, wallet, buyer_of(out_trade_no, wallet))
        return True

    def _api_query(self, p: dict[str, Any]) -> tuple[dict[str, Any], float]:
        if self._take("query_unknown"):
            return self._fail("SYSTEMERROR", "系统错误"), 0.0
        with self.book.tx() as db:
            t = self.book.trade(db, str(p["out_trade_no"]))
        if t is None:
            return self._fail("ORDERNOTEXIST", "此交易订单号不存在"), 0.0
        return self._trade_answer(t), 0.0

    def _api_cancel(self, p: dict[str, Any]) -> tuple[dict[str, Any], float]:
        if self._take("cancel_fails"):
            return self._fail("SYSTEMERROR", "系统错误", recall="Y"), 0.0
        out_trade_no = str(p["out_trade_no"])
        with self.book.tx() as db:
            t = self.book.trade(db, out_trade_no)
            if t is None:
                # A pay still on its way must not charge after the cancel: keep a closed
                # order under this number (a late pay is then answered ORDERCLOSED).
                t = self.book.create(
                    db,
                    out_trade_no=out_trade_no,
                    tid=str(p["tid"]),
                    mid=str(p["mid"]),
                    wallet="",
                    mode="",
                    amount=int(p.get("total_amount", 1)) or 1,
                    currency=str(p.get("currency", "CNY")),
                    state="CLOSED",
                )
                action = "close"
            elif t["state"] == "WAIT_BUYER_PAY":
                self.book.close_trade(db, t, "close")
                action = "close"
            elif t["state"] == "SUCCESS" and t["refunded"] == 0:
                self.book.close_trade(db, t, "refund")
                action = "refund"
            elif t["state"] == "CLOSED":
                action = t["action"] or "close"
            else:
                return self._fail("TRADE_STATE_ERROR", "订单已退款,不能撤销", recall="N"), 0.0
        return self._trade_answer(t, recall="N", action=action), 0.0

    def _api_refund(self, p: dict[str, Any]) -> tuple[dict[str, Any], float]:
        out_refund_no = str(p["out_refund_no"])
        amount = int(p["refund_amount"])
        with self.book.tx() as db:
            r = self.book.refund(db, out_refund_no)
            if r is not None:  # a repeat of the same refund
                if r["amount"] != amount or r["out_trade_no"] != p["out_trade_no"]:
                    return self._fail("OUT_REFUND_NO_USED", "退款单号重复"), 0.0
                return self._refund_answer(r), 0.0
            t = self.book.trade(db, str(p["out_trade_no"]))
            if t is None:
                return self._fail("ORDERNOTEXIST", "此交易订单号不存在"), 0.0
            if t["state"] not in ("SUCCESS",):
                return self._fail("TRADE_STATE_ERROR", "订单状态错误", trade_state=t["state"]), 0.0
            if amount <= 0 or amount > t["amount"] - t["refunded"]:
                return self._fail("REFUND_AMOUNT_INVALID", "退款金额大于可退金额"), 0.0
            pending = self._take("refund_pending")
            r = self.book.add_refund(
                db, t, out_refund_no, amount, float(pending["after"]) if pending else 0.0
            )
        return self._refund_answer(r), 0.0

    def _api_refundquery(self, p: dict[str, Any]) -> tuple[dict[str, Any], float]:
        with self.book.tx() as db:
            r = self.book.refund(db, str(p["out_refund_no"]))
        if r is None:
            return self._fail("REFUNDNOTEXIST", "退款订单不存在"), 0.0
        return self._refund_answer(r), 0.0

    @staticmethod
    def _refund_answer(r: dict[str, Any]) -> dict[str, Any]:
        return {
            "result_code": "SUCCESS",
            "out_trade_no": r["out_trade_no"],
            "out_refund_no": r["out_refund_no"],
            "refund_id": r["refund_id"],
            "refund_amount": r["amount"],
            "refund_status": r["status"],
        }


class GatewayServer:
    """The gateway served by uvicorn in a background thread (``start()`` / ``stop()``)."""

    def __init__(self, gateway: QrGateway, host: str = "127.0.0.1", port: int = 0) -> None:
        import uvicorn

        self.gateway = gateway
        self.host = host
        if port == 0:
            from appliance.sim.shop import free_port

            port = free_port()
        self.port = port
        gateway.base_url = f"http://{host}:{port}"
        self._server = uvicorn.Server(
            uvicorn.Config(gateway.app, host=host, port=port, log_level="warning", access_log=False)
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The gateway's base URL."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> GatewayServer:
        """Serve in a daemon thread; returns once it accepts connections."""
        self._thread = threading.Thread(target=self._server.run, name="qr-gateway", daemon=True)
        self._thread.start()
        ev = threading.Event()
        for _ in range(400):
            if self._server.started:
                return self
            if not self._thread.is_alive():
                break
            ev.wait(0.025)
        raise ConfigError(f"the QR gateway could not listen on {self.host}:{self.port}")

    def stop(self) -> None:
        """Stop serving (a held answer is abandoned)."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        self.gateway.book.close()

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted."""
        self._server.run()

    def __enter__(self) -> GatewayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
