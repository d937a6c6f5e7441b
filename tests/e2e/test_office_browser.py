"""The back-office pages in a real headless browser (Debian's Chromium), as a person uses them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.errors import ConfigError
from appliance.office.db import OfficeDb
from appliance.office.web import create_app
from appliance.sim.office_demo import DemoOffice, build_demo_office
from tests.brokers import WebServer


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DemoOffice, str]]:
    demo = build_demo_office(tmp_path_factory.mktemp("office"))
    db = OfficeDb(demo.db_url)
    db.add_user("owner", "owner", "owner-pass-1", [demo.mid])
    web = WebServer(create_app(db))
    web.start()
    yield demo, web.url
    web.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from appliance.sim.browser import chromium

    try:
        drv = chromium()
    except ConfigError as exc:
        pytest.skip(str(exc))
    yield drv
    drv.quit()


def test_an_owner_signs_in_sees_the_fleet_opens_the_day_and_finds_the_one_sided_sale(
    site: tuple[DemoOffice, str], browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    from appliance.sim.browser import click_and_wait, sign_in

    demo, base = site
    browser.get(base + "/")
    assert browser.current_url.endswith("/login")  # redirected: not signed in

    sign_in(browser, base, "owner", "wrong-password")
    assert "Wrong name or password" in browser.find_element(By.ID, "error").text

    sign_in(browser, base, "owner", "owner-pass-1")
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-tid="{demo.tid}"]')
    assert "fresh" in row.get_attribute("class")
    assert "¥285.70" in row.text
    assert not browser.find_elements(By.CSS_SELECTOR, 'tr[data-tid="20000002"]')  # not theirs

    click_and_wait(browser, row.find_element(By.LINK_TEXT, demo.name))
    assert browser.find_element(By.ID, "net").text == "¥285.70"
    bars = browser.find_elements(By.CSS_SELECTOR, "#chart rect")
    assert len(bars) == 24 and any(float(b.get_attribute("height")) > 0 for b in bars)
    one_sided = browser.find_element(By.ID, "one-sided").text
    assert demo.one_sided_trace in one_sided and "terminal_only" in one_sided
    assert "balanced" in browser.find_element(By.ID, "settlements").text

    stub = browser.find_element(By.CSS_SELECTOR, "#txns a[href$='.png']")
    click_and_wait(browser, stub)
    from selenium.webdriver.support.ui import WebDriverWait

    width = WebDriverWait(browser, 10).until(
        lambda d: d.execute_script(
            "const i = document.images[0]; return i && i.complete ? i.naturalWidth : 0"
        )
    )
    assert width >= 384
    browser.save_screenshot(str(tmp_path / "stub.png"))
