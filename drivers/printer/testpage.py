"""The printer test page: profile facts, a column ruler, styles, a Chinese line, a QR code.

The Chinese line is what tells a technician whether ``[printer] chinese`` is right: with "fs"
it is GB18030 between ``FS &`` and ``FS .`` (garbage on a printer without Chinese firmware);
with "image" it is drawn with the CJK font and sent as a raster image (works on any printer).
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from escpos.printer import Dummy
from PIL import Image, ImageDraw, ImageFont

from drivers.printer.base import PrinterProfile
from drivers.printer.fonts import find_cjk_font

CHINESE_LINE = "中文测试：打印正常 ¥12.30"
FS_KANJI_ON, FS_KANJI_OFF = b"\x1c&", b"\x1c."


def chinese_image(text: str, dots: int, height: int = 24) -> Image.Image:
    """``text`` drawn with the CJK font, ``height`` dots tall, at most ``dots`` wide ("1" mode).

    Raises ConfigError naming fonts-wqy-microhei when no CJK font is installed.
    """
    font = ImageFont.truetype(str(find_cjk_font()), height - 2)
    width = min(dots, int(font.getlength(text)) + 2)
    img = Image.new("L", (width, height), 255)
    ImageDraw.Draw(img).text((0, height // 2), text, font=font, fill=0, anchor="lm")
    return img.point(lambda v: 0 if v < 128 else 255).convert("1")


def _writer(profile: PrinterProfile) -> Dummy:
    p = Dummy()
    # python-escpos checks images against the paper width (and prints a notice without one).
    data = dict(p.profile.profile_data)
    data["media"] = {"width": {"pixels": profile.dots, "mm": profile.width_mm}, "dpi": 203}
    p.profile.profile_data = data
    return p


def build_test_page(
    profile: PrinterProfile,
    *,
    device: str = "",
    now: datetime | None = None,
    drawer: bool = False,
    tz: str = "UTC",
) -> bytes:
    """The ESC/POS bytes of the test page for ``profile``; ``drawer`` also kicks the drawer.

    The time is printed in ``tz`` (the shop's zone, ``locale.timezone``) with its name and UTC
    offset, e.g. ``2026-12-02 20:30:00 CST +0800``.
    """
    moment = now if now is not None and now.tzinfo is not None else None
    if moment is None:
        moment = now.astimezone() if now is not None else datetime.now(UTC)
    when = moment.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S %Z %z")
    p = _writer(profile)
    p.hw("INIT")
    p.set(align="center", bold=True, double_width=True, double_height=True)
    p.textln("COUNTERTOP")
    p.set(normal_textsize=True, bold=False)
    p.textln("printer test page")
    p.textln(when)
    p.set(align="left")
    p.textln("-" * profile.columns)
    facts = [
        ("paper", f"{profile.width_mm} mm"),
        ("columns", str(profile.columns)),
        ("dots", str(profile.dots)),
        ("chinese", profile.chinese),
        ("cutter", "yes" if profile.cutter else "no"),
        ("drawer", "yes" if profile.drawer else "no"),
    ]
    if device:
        p.textln(device[: profile.columns])
    for key, value in facts:
        p.textln(f"{key}:".ljust(profile.columns - len(value)) + value)
    p.textln("-" * profile.columns)
    ruler = "".join(str(i % 10) for i in range(1, profile.columns + 1))
    p.textln(ruler)
    p.set(bold=True)
    p.textln("bold")
    p.set(bold=False, underline=1)
    p.textln("underline")
    p.set(underline=0, align="right")
    p.textln("right")
    p.set(align="left")
    if profile.chinese == "fs":
        p._raw(FS_KANJI_ON + CHINESE_LINE.encode("gb18030") + FS_KANJI_OFF + b"\n")
    else:
        p.image(chinese_image(CHINESE_LINE, profile.dots))
    p.set(align="center")
    p.qr("countertop printer test", native=True, size=4 if profile.columns == 32 else 5)
    p.set(align="left")
    if drawer and profile.drawer:
        p.cashdraw(2)
    if profile.cutter:
        p.cut()
    else:
        p.print_and_feed(4)  # past the tear bar
    return p.output
