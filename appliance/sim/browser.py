"""Debian's Chromium driven by Selenium, headless, for the back-office pages.

Only the system's ``chromium`` and ``chromedriver`` (Debian packages chromium and
chromium-driver) are used: nothing is downloaded at run time (Selenium Manager is bypassed by
naming both binaries). The flags keep the browser off the network beyond the local server.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from appliance.errors import ConfigError

CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",  # as root (CI) Chromium refuses to start sandboxed
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--lang=zh-CN",
)


def binaries() -> tuple[str, str]:
    """(chromium, chromedriver) paths; ConfigError naming the packages when missing."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        raise ConfigError(
            "Chromium and its driver are needed: apt-get install chromium chromium-driver"
        )
    return browser, driver


def chromium(width: int = 1280, height: int = 900) -> Any:
    """A headless Chromium WebDriver with its own empty profile (caller quits it)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = binaries()
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for flag in CHROMIUM_FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--window-size={width},{height}")
    opts.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='countertop-chromium-')}")
    return webdriver.Chrome(options=opts, service=Service(executable_path=driver))


def click_and_wait(drv: Any, element: Any, timeout: float = 10.0) -> None:
    """Click something that loads a new page, and wait until the new page has loaded.

    A click returns before the browser has replaced the page. The old document is marked
    with a script variable; the new one has none, so waiting for the mark to vanish (and
    ``readyState`` complete) tells the pages apart without touching nodes of the old page.
    """
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    drv.execute_script("window.__countertopOld = true;")
    element.click()

    def loaded(d: Any) -> bool:
        try:
            return bool(
                d.execute_script(
                    "return window.__countertopOld === undefined"
                    " && document.readyState === 'complete'"
                )
            )
        except WebDriverException:  # the page is being replaced right now
            return False

    WebDriverWait(drv, timeout).until(loaded)


def sign_in(drv: Any, base: str, name: str, password: str) -> None:
    """Fill in and submit the sign-in form the way a person does."""
    from selenium.webdriver.common.by import By

    drv.get(base + "/login")
    drv.find_element(By.ID, "name").send_keys(name)
    drv.find_element(By.ID, "password").send_keys(password)
    click_and_wait(drv, drv.find_element(By.ID, "signin"))


def screenshots(out: Path) -> list[Path]:
    """The back-office pages of the demo day as PNG files in ``out``."""
    import threading

    import uvicorn

    from appliance.office.db import OfficeDb
    from appliance.office.web import create_app
    from appliance.sim.office_demo import build_demo_office
    from appliance.sim.shop import free_port

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="countertop-office-") as tmp:
        demo = build_demo_office(Path(tmp))
        db = OfficeDb(demo.db_url)
        db.add_user("demo", "technician", "demo-password", [])
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(db), host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            threading.Event().wait(0.05)
        base = f"http://127.0.0.1:{port}"
        drv = chromium()
        written = []
        try:
            sign_in(drv, base, "demo", "demo-password")
            for name, path in (
                ("office-overview", "/"),
                ("office-terminal-day", f"/t/{demo.tid}"),
                ("office-search", "/search?amount=150.00"),
            ):
                drv.get(base + path)
                height = drv.execute_script("return document.body.scrollHeight")
                drv.set_window_size(1280, max(600, int(height) + 40))
                target = out / f"{name}.png"
                drv.save_screenshot(str(target))
                written.append(target)
        finally:
            drv.quit()
            server.should_exit = True
            thread.join(10)
    return written
