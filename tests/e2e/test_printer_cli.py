"""``countertop printer status|test`` through the CLI entry point, against a LAN printer on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from appliance.config import template
from appliance.sim.printer_net import FakeNetworkPrinter
from drivers.printer.base import PrinterStatus
from drivers.printer.escpos_render import render_text
from drivers.printer.fonts import find_cjk_font
from drivers.printer.testpage import CHINESE_LINE


@pytest.fixture(autouse=True)
def no_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COUNTERTOP_CONFIG", str(tmp_path / "absent.toml"))


@pytest.fixture
def server() -> Iterator[FakeNetworkPrinter]:
    with FakeNetworkPrinter() as fake:
        yield fake


def net(server: FakeNetworkPrinter) -> list[str]:
    return ["--backend", "network", "--host", server.host, "--port", str(server.port)]


def test_status_of_a_printer_that_is_fine(
    server: FakeNetworkPrinter, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["printer", "status", *net(server)]) == EXIT_OK
    assert capsys.readouterr().out == f"network printer 127.0.0.1:{server.port}: online\n"


def test_status_json_of_a_printer_out_of_paper_fails(
    server: FakeNetworkPrinter, capsys: pytest.CaptureFixture[str]
) -> None:
    server.status = PrinterStatus.PAPER_OUT
    assert main(["printer", "status", "--json", *net(server), "--width-mm", "80"]) == EXIT_FAILED
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "paper_out" and report["can_print"] is False
    assert report["profile"]["columns"] == 48 and report["profile"]["dots"] == 576


def test_status_of_a_printer_that_is_off(capsys: pytest.CaptureFixture[str]) -> None:
    with FakeNetworkPrinter() as gone:
        port = gone.port
    assert main(["printer", "status", "--backend", "network", "--port", str(port),
                 "--host", "127.0.0.1"]) == EXIT_FAILED  # fmt: skip
    assert capsys.readouterr().out.endswith(": offline\n")


def test_test_page_in_firmware_chinese_mode(
    server: FakeNetworkPrinter, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["printer", "test", *net(server), "--chinese", "fs", "--cutter"]) == EXIT_OK
    text = render_text(server.received, dots=384)
    assert CHINESE_LINE in text
    assert "[QR: countertop printer test]" in text
    assert text.rstrip().endswith("--- cut ---")
    assert "printed test page test-" in capsys.readouterr().out


def test_test_page_in_image_mode_prints_chinese_as_a_picture(
    server: FakeNetworkPrinter, tmp_path: Path
) -> None:
    try:
        find_cjk_font()
    except Exception as exc:
        pytest.skip(f"no CJK font here: {exc}")
    png = tmp_path / "page.png"
    args = ["printer", "test", *net(server), "--chinese", "image", "--png", str(png)]
    assert main(args) == EXIT_OK
    text = render_text(server.received, dots=384)
    assert CHINESE_LINE not in text and "[image " in text
    assert png.read_bytes().startswith(b"\x89PNG")


def test_test_page_on_a_printer_with_its_cover_open_says_so(
    server: FakeNetworkPrinter, capsys: pytest.CaptureFixture[str]
) -> None:
    server.status = PrinterStatus.COVER_OPEN
    assert main(["printer", "test", *net(server)]) == EXIT_FAILED
    assert "cover is open" in capsys.readouterr().err
    assert server.received == b""


def test_settings_come_from_the_config_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "terminal.toml"
    path.write_text(template({"printer": {"backend": "mock", "width_mm": 80}}), "utf-8")
    assert main(["--config", str(path), "printer", "status", "--json"]) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert (report["backend"], report["profile"]["width_mm"]) == ("mock", 80)


def test_without_a_config_file_or_backend_flag_the_error_says_how_to_make_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["printer", "status"]) == EXIT_USAGE
    assert "config init" in capsys.readouterr().err


def test_usb_ids_are_hex(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["printer", "status", "--backend", "usb", "--usb-vendor", "xyz"])
    assert caught.value.code == EXIT_USAGE
    assert "hex USB id" in capsys.readouterr().err
