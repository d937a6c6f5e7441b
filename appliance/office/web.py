"""The back office's web app (Starlette, server-rendered Jinja2 pages).

Sign-in with a name and password (scrypt in the database), a signed session cookie
(SameSite=Strict, HttpOnly) and a CSRF token in every form. An owner sees only the terminals of
the merchants listed for them; a technician sees every terminal. Pages: the fleet overview,
one terminal's day, a transaction search, a stub as PNG, the day as CSV.
"""

from __future__ import annotations

import csv
import io
import os
import secrets
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from appliance.domain.money import CURRENCIES, format_amount
from appliance.office import views
from appliance.office.db import OfficeDb, User

Clock = Any


def _money(minor: int | None, cur: str = "CNY") -> str:
    if minor is None:
        return ""
    c = CURRENCIES.get(cur)
    return format_amount(int(minor), c, symbol=True) if c else f"{minor} {cur}"


def _templates() -> Environment:
    env = Environment(
        loader=PackageLoader("appliance.office", "templates"),
        autoescape=select_autoescape(["html"]),
    )
    env.filters["money"] = _money
    return env


def _secret(path: Path | None) -> str:
    """The session-signing secret, kept beside the database so sign-ins survive a restart."""
    if path is None:
        return secrets.token_hex(32)
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(token)
    return token


def create_app(
    db: OfficeDb,
    *,
    secret_file: Path | None = None,
    tz: str = "Asia/Shanghai",
    clock: Clock = lambda: datetime.now(UTC),
) -> Starlette:
    """The web app over ``db``. ``tz`` is the shops' time zone ("today" and dates)."""
    env = _templates()
    zone = ZoneInfo(tz)

    def render(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        token = request.session.get("csrf")
        if not token:
            token = secrets.token_urlsafe(24)
            request.session["csrf"] = token
        html = env.get_template(name).render(
            user=_user(request), csrf=token, request=request, **ctx
        )
        return HTMLResponse(html, status_code=status)

    def _user(request: Request) -> User | None:
        name = request.session.get("user")
        return db.user(name) if name else None

    async def _form_checked(request: Request) -> dict[str, Any] | None:
        form = dict(await request.form())
        token = request.session.get("csrf")
        if not token or not secrets.compare_digest(str(form.get("csrf", "")), token):
            return None
        return form

    def need_user(request: Request) -> User | Response:
        user = _user(request)
        if user is None:
            return RedirectResponse("/login", status_code=303)
        return user

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return render(request, "login.html")
        form = await _form_checked(request)
        if form is None:
            return render(request, "login.html", 403, error="The form expired: sign in again.")
        user = db.authenticate(str(form.get("name", "")), str(form.get("password", "")))
        if user is None:
            return render(request, "login.html", 401, error="Wrong name or password.")
        request.session.clear()
        request.session["user"] = user.name
        request.session["csrf"] = secrets.token_urlsafe(24)
        return RedirectResponse("/", status_code=303)

    async def logout(request: Request) -> Response:
        if await _form_checked(request) is None:
            return PlainTextResponse("CSRF token missing or wrong", status_code=403)
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    async def overview(request: Request) -> Response:
        user = need_user(request)
        if not isinstance(user, User):
            return user
        now = clock()
        rows = views.overview(db, user, now, now.astimezone(zone).date())
        return render(request, "overview.html", rows=rows, now=now)

    def _date(text: str | None, default: date) -> date:
        try:
            return date.fromisoformat(text) if text else default
        except ValueError:
            return default

    async def terminal(request: Request) -> Response:
        user = need_user(request)
        if not isinstance(user, User):
            return user
        tid = request.path_params["tid"]
        if not views.can_see(db, user, tid):
            return render(request, "message.html", 404, message=f"No terminal {tid} for you.")
        today = clock().astimezone(zone).date()
        on = _date(request.query_params.get("date"), today)
        d = views.day(db, tid, on)
        peak = max(d["hours"]) or 1
        return render(
            request,
            "terminal.html",
            d=d,
            peak=peak,
            prev=(on - timedelta(days=1)).isoformat(),
            next=(on + timedelta(days=1)).isoformat(),
        )

    async def search(request: Request) -> Response:
        user = need_user(request)
        if not isinstance(user, User):
            return user
        q = request.query_params
        amount = None
        error = ""
        if q.get("amount"):
            try:
                cur = CURRENCIES["CNY"]
                from appliance.domain.money import parse_amount

                amount = parse_amount(q["amount"], cur)
            except ValueError as exc:
                error = f"amount: {exc}"
        if q.get("trace") and not q["trace"].isdigit():
            error = "trace: digits only (凭证号)"
        results = []
        if not error and any(q.get(k) for k in ("trace", "rrn", "amount", "date")):
            results = views.search(
                db,
                user,
                trace=q.get("trace", ""),
                rrn=q.get("rrn", ""),
                amount=amount,
                on=_date(q.get("date"), date.min) if q.get("date") else None,
            )
        return render(request, "search.html", q=q, results=results, error=error)

    async def stub(request: Request) -> Response:
        user = need_user(request)
        if not isinstance(user, User):
            return user
        tid, uuid = request.path_params["tid"], request.path_params["uuid"]
        if not views.can_see(db, user, tid):
            return PlainTextResponse("not found", status_code=404)
        body = views.transaction_body(db, tid, uuid)
        if body is None:
            return PlainTextResponse("not found", status_code=404)
        return Response(_stub_png(db, tid, body), media_type="image/png")

    async def export(request: Request) -> Response:
        user = need_user(request)
        if not isinstance(user, User):
            return user
        tid = request.path_params["tid"]
        if not views.can_see(db, user, tid):
            return PlainTextResponse("not found", status_code=404)
        on = _date(request.query_params.get("date"), clock().astimezone(zone).date())
        out = io.StringIO()
        csv.writer(out).writerows(views.day_csv_rows(db, tid, on))
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{tid}-{on}.csv"'},
        )

    routes = [
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", overview),
        Route("/t/{tid}", terminal),
        Route("/t/{tid}/export.csv", export),
        Route("/t/{tid}/stub/{uuid}.png", stub),
        Route("/search", search),
    ]
    middleware = [
        Middleware(
            SessionMiddleware,
            secret_key=_secret(secret_file),
            same_site="strict",
            https_only=False,
            max_age=8 * 3600,
        )
    ]
    return Starlette(routes=routes, middleware=middleware)


def _stub_png(db: OfficeDb, tid: str, body: dict[str, Any]) -> bytes:
    """The merchant stub of one transaction, drawn the way the terminal prints it."""
    from appliance.domain.receipts import MerchantInfo, build_receipt
    from appliance.domain.transactions import Transaction, TxnState, TxnType
    from appliance.receipts.raster import render_png

    t = db.query("SELECT mid, name, status FROM terminals WHERE tid = ?", (tid,))[0]
    status = views._status(t[2])
    created = datetime.fromisoformat(body["created_at"])
    txn = Transaction(
        uuid=body["uuid"],
        type=TxnType(body["type"]),
        state=TxnState(body["state"]),
        amount=int(body["amount"]),
        currency=body["currency"],
        stan=int(body["stan"]),
        batch=int(body["batch"]),
        invoice=int(body.get("invoice") or 0),
        created_at=created,
        updated_at=datetime.fromisoformat(body["updated_at"]),
        transmitted_at=created,
        masked_pan=body.get("masked_pan") or "",
        scheme=body.get("scheme") or "",
        entry_mode=body.get("entry_mode") or "",
        aid=body.get("aid") or "",
        label=body.get("label") or "",
        rrn=body.get("rrn"),
        auth_code=body.get("auth_code"),
        response_code=body.get("response_code"),
        original_uuid=body.get("original_uuid"),
        original_stan=body.get("original_stan"),
        operator=body.get("operator") or "",
        offline=bool(body.get("offline")),
    )
    doc = build_receipt(
        None,
        txn,
        MerchantInfo(t[1] or tid, t[0], tid),
        copy="merchant",
        lang="bilingual",
        tz=str(status.get("timezone") or "Asia/Shanghai"),
    )
    out = io.BytesIO()
    render_png(doc).save(out, format="PNG")
    return out.getvalue()
