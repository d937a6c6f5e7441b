"""The kiosk in a real X11 window (Xvfb), driven by real taps (xdotool), in zh_CN and English.

``countertop demo`` runs as its own process on an X server; ``COUNTERTOP_UI_TRACE`` makes the
app write one JSON line per screen it shows (name and button centres) and a PNG of it, so
the test knows where to tap and what the shopkeeper saw. Taps are X pointer clicks, as a
touchscreen's are through SDL; a double tap is two clicks 80 ms apart.

Skips, saying why, when Xvfb or xdotool is missing (Debian packages ``xvfb``, ``xdotool``;
CI installs them, see .ci/run).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
MISSING = [tool for tool in ("Xvfb", "xdotool") if shutil.which(tool) is None]
if MISSING:
    reason = f"{' and '.join(MISSING)} not installed (apt-get install xvfb xdotool)"
    print(f"test_ui_x11: skipped: {reason}")
    pytest.skip(reason, allow_module_level=True)


@pytest.fixture
def display(tmp_path: Path) -> Iterator[str]:
    """A fresh Xvfb server; its display name."""
    read, write = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "1024x600x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    with os.fdopen(read) as f:
        number = f.readline().strip()
    assert number, "Xvfb did not report its display"
    try:
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class Kiosk:
    """``countertop demo`` in a window; taps by xdotool; screens read from the trace."""

    def __init__(self, display: str, trace: Path, language: str) -> None:
        self.display = display
        self.trace = trace
        env = {
            **os.environ,
            "DISPLAY": display,
            "SDL_VIDEODRIVER": "x11",
            "SDL_AUDIODRIVER": "dummy",
            "COUNTERTOP_UI_TRACE": str(trace),
            "PYTHONPATH": str(ROOT),
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "appliance", "demo", "--lang", language, "--size", "800x480"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.seen = 0
        self.window = ""
        self.taps = 0

    def screens(self) -> list[dict[str, Any]]:
        """Every screen shown so far, in order."""
        path = self.trace / "screens.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def wait(self, name: str, timeout: float = 30.0) -> dict[str, Any]:
        """The first screen called ``name`` (or starting with it) shown after the last wait."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            assert self.proc.poll() is None, f"the kiosk exited: {self.proc.stderr.read()}"
            shown = self.screens()
            for i in range(self.seen, len(shown)):
                if shown[i]["screen"].startswith(name):
                    self.seen = i + 1
                    # A person looks at a new screen before tapping it: taps within the input
                    # guard (0.35 s after a screen change) are ignored, on purpose.
                    time.sleep(0.5)
                    return shown[i]
            time.sleep(0.05)  # polling a file another process writes; not hiding a race
        names = [s["screen"] for s in self.screens()]
        raise AssertionError(f"no {name} screen within {timeout} s; shown: {names}")

    def current(self) -> dict[str, Any]:
        """The screen shown now."""
        return self.screens()[-1]

    def _xdotool(self, *args: str) -> str:
        env = {**os.environ, "DISPLAY": self.display}
        out = subprocess.run(
            ["xdotool", *args], env=env, capture_output=True, text=True, timeout=20, check=True
        )
        return out.stdout.strip()

    def find_window(self) -> None:
        """The kiosk's X window (SDL sets its _NET_WM_PID)."""
        found = self._xdotool("search", "--sync", "--pid", str(self.proc.pid))
        self.window = found.split()[-1]

    def tap(self, bid: str, *, double: bool = False) -> None:
        """Click the centre of button ``bid`` of the current screen (twice for ``double``)."""
        x, y = self.current()["buttons"][bid]
        repeat = ["--repeat", "2", "--delay", "80"] if double else []
        self._xdotool("mousemove", "--window", self.window, str(x), str(y), "click", *repeat, "1")
        self.taps += 2 if double else 1
        time.sleep(0.4)  # a person looks at the screen before the next tap (input guard)

    def type(self, digits: str) -> None:
        """Tap digits on the keypad."""
        for d in digits:
            self.tap(f"k{d}")

    def close(self) -> None:
        """Stop the kiosk (SIGTERM leaves its loop)."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(params=["zh_CN", "en"])
def kiosk(request: pytest.FixtureRequest, display: str, tmp_path: Path) -> Iterator[Kiosk]:
    k = Kiosk(display, tmp_path / "trace", request.param)
    try:
        k.wait("signin", timeout=60)
        k.find_window()
        yield k
    finally:
        k.close()
        keep = os.environ.get("COUNTERTOP_X11_SHOTS")
        if keep:  # where to keep the screenshots for a person to look at
            dest = Path(keep) / request.param
            shutil.copytree(tmp_path / "trace", dest, dirs_exist_ok=True)


def test_double_taps_never_fall_through_and_results_say_what_happened(kiosk: Kiosk) -> None:
    k = kiosk
    k.tap("field0")
    k.type("01")
    k.tap("field1")
    k.type("1234")
    k.tap("signin")
    k.wait("home")
    k.type("1250")
    k.tap("charge", double=True)  # the second tap must not cancel the sale
    k.wait("present_card")
    time.sleep(0.5)
    assert k.current()["screen"] == "present_card", "a double tap fell through to Cancel"
    k.tap("panel:visa")
    result = k.wait("result")
    assert result["screen"] == "result_approved"
    assert Path(result["shot"]).exists()
    # A digit starts the next sale from the result screen.
    k.tap("new")
    k.wait("home")
    k.type("3000")
    k.tap("charge")
    k.wait("present_card")
    k.tap("panel:unionpay")
    k.wait("result_approved")
    k.tap("new")
    k.wait("home")
    # Void it: the supervisor approves at the menu gate; a double tap on Void is one void.
    k.tap("menu")
    k.wait("supervisor")
    k.type("02")
    k.type("123456")
    k.tap("next")
    k.wait("menu")
    k.tap("void")
    k.wait("void_choose")
    k.tap("list")
    k.wait("void_list")
    first = next(b for b in k.current()["buttons"] if b.startswith("item:"))
    k.tap(first)
    k.wait("void_confirm")
    k.tap("confirm", double=True)
    void = k.wait("result")
    assert void["screen"] == "result_approved" and void.get("kind") == "void"
    time.sleep(0.6)
    after = [s["screen"] for s in k.screens()[k.seen :]]
    assert "void_confirm" not in after and "processing" not in after[1:], after
