"""The back office's web app over HTTP: sign-in, CSRF, who sees what, stubs and CSV."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from appliance.office.db import OfficeDb
from appliance.office.web import create_app
from appliance.sim.office_demo import DemoOffice, build_demo_office
from tests.brokers import WebServer


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoOffice:
    d = build_demo_office(tmp_path_factory.mktemp("office"))
    db = OfficeDb(d.db_url)
    db.add_user("tech", "technician", "tech-pass-1", [])
    db.add_user("owner", "owner", "owner-pass-1", [d.mid])
    db.add_user("other", "owner", "other-pass-1", ["898310048160002"])
    db.close()
    return d


@pytest.fixture(scope="module")
def server(demo: DemoOffice) -> Iterator[WebServer]:
    web = WebServer(create_app(OfficeDb(demo.db_url)))
    web.start()
    yield web
    web.stop()


@pytest.fixture
def client(server: WebServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url) as c:
        yield c


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "the form carries a CSRF token"
    return m.group(1)


def sign_in(client: httpx.Client, name: str, password: str) -> None:
    token = _csrf(client.get("/login").text)
    r = client.post(
        "/login", data={"name": name, "password": password, "csrf": token}, follow_redirects=False
    )
    assert r.status_code == 303, r.text


def test_pages_need_a_sign_in(client: httpx.Client, demo: DemoOffice) -> None:
    for path in ("/", f"/t/{demo.tid}", "/search?trace=1", f"/t/{demo.tid}/export.csv"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login", path


def test_a_wrong_password_is_refused(client: httpx.Client) -> None:
    token = _csrf(client.get("/login").text)
    r = client.post("/login", data={"name": "tech", "password": "nope-nope", "csrf": token})
    assert r.status_code == 401 and "Wrong name or password" in r.text


def test_a_form_without_its_csrf_token_is_refused(client: httpx.Client) -> None:
    client.get("/login")
    r = client.post("/login", data={"name": "tech", "password": "tech-pass-1", "csrf": "forged"})
    assert r.status_code == 403
    assert client.get("/", follow_redirects=False).status_code == 303  # still signed out


def test_the_session_cookie_is_strict_and_http_only(client: httpx.Client) -> None:
    r = client.get("/login")
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_a_technician_sees_every_terminal_and_the_stale_one_is_marked(
    client: httpx.Client, demo: DemoOffice
) -> None:
    sign_in(client, "tech", "tech-pass-1")
    html = client.get("/").text
    assert f'data-tid="{demo.tid}"' in html and 'data-tid="20000002"' in html
    assert re.search(r'<tr class="stale" data-tid="20000002"', html)


def test_an_owner_sees_only_their_own_shops(client: httpx.Client, demo: DemoOffice) -> None:
    sign_in(client, "other", "other-pass-1")
    html = client.get("/").text
    assert 'data-tid="20000002"' in html and f'data-tid="{demo.tid}"' not in html
    assert client.get(f"/t/{demo.tid}").status_code == 404
    assert client.get(f"/t/{demo.tid}/export.csv").status_code == 404
    assert "无结果" in client.get("/search?amount=12.50").text


def test_the_day_page_shows_takings_settlement_and_the_one_sided_sale(
    client: httpx.Client, demo: DemoOffice
) -> None:
    sign_in(client, "owner", "owner-pass-1")
    html = client.get(f"/t/{demo.tid}").text
    # 1250+3800+920+15000+2600+6600 sold, 1600 refunded; the voided 4200 does not count.
    assert "¥285.70" in html
    assert "balanced" in html
    one_sided = html.split('id="one-sided"')[1].split("</table>")[0]
    assert demo.one_sided_trace and demo.one_sided_trace in one_sided
    assert "单边账" in one_sided  # the advice to the merchant, in Chinese


def test_search_by_amount_finds_the_sale_and_its_stub_is_a_png(
    client: httpx.Client, demo: DemoOffice
) -> None:
    sign_in(client, "owner", "owner-pass-1")
    html = client.get("/search?amount=150.00").text
    m = re.search(rf'href="(/t/{demo.tid}/stub/[^"]+\.png)"', html)
    assert m, "the sale of 150.00 is found"
    r = client.get(m.group(1))
    assert r.headers["content-type"] == "image/png"
    img = Image.open(io.BytesIO(r.content))
    assert img.width >= 384 and img.height > 300


def test_a_bad_search_says_what_is_wrong(client: httpx.Client) -> None:
    sign_in(client, "tech", "tech-pass-1")
    assert "trace: digits only" in client.get("/search?trace=12a").text


def test_the_day_exports_as_csv_with_amounts_in_minor_units(
    client: httpx.Client, demo: DemoOffice
) -> None:
    sign_in(client, "owner", "owner-pass-1")
    r = client.get(f"/t/{demo.tid}/export.csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0][:6] == ["tid", "local_date", "created_at", "type", "state", "amount_minor"]
    amounts = sorted(int(x[5]) for x in rows[1:] if x[3] == "sale")
    assert amounts == [920, 1250, 2600, 3800, 4200, 6600, 15000]
    assert all("*" in x[8] for x in rows[1:])  # masked PANs only


def test_signing_out_needs_the_token_and_ends_the_session(client: httpx.Client) -> None:
    sign_in(client, "tech", "tech-pass-1")
    assert client.post("/logout", data={"csrf": "x"}).status_code == 403
    token = _csrf(client.get("/").text)
    assert client.post("/logout", data={"csrf": token}, follow_redirects=False).status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_user_needs_a_real_password(tmp_path: Path) -> None:
    from appliance.office.db import OfficeError

    db = OfficeDb(f"sqlite:///{tmp_path}/o.db")
    db.migrate()
    with pytest.raises(OfficeError, match="8 characters"):
        db.add_user("x", "owner", "short", ["1"])
    with pytest.raises(OfficeError, match="role"):
        db.add_user("x", "boss", "long-enough", [])
