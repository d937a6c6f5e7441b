"""Translations: gettext catalogs under ``ui/locale/<lang>/LC_MESSAGES/countertop.po``.

msgids are the English text. The compiled ``.mo`` ships beside each ``.po``; ``compile_po`` is
a small msgfmt (no plural forms, no contexts: the UI uses neither) used to regenerate them
(``python -m ui.i18n``) and by the tests, which check that every shipped ``.mo`` equals its
freshly compiled ``.po``. At load time a ``.mo`` older than its ``.po`` is ignored and the
``.po`` compiled in memory, so a stale catalog is never shown.
"""

from __future__ import annotations

import ast
import gettext
import io
import struct
from pathlib import Path

from appliance.errors import ConfigError

DOMAIN = "countertop"
LOCALE_DIR = Path(__file__).with_name("locale")
LANGUAGES: tuple[str, ...] = ("zh_CN", "en")
LANGUAGE_NAMES: dict[str, str] = {"zh_CN": "中文", "en": "English"}


def N_(msgid: str) -> str:
    """Mark ``msgid`` for the catalog without translating it now (translated when drawn)."""
    return msgid


def parse_po(text: str) -> dict[str, str]:
    """msgid → msgstr of a ``.po`` text (the header entry included, fuzzy entries dropped)."""
    entries: dict[str, str] = {}
    msgid: list[str] | None = None
    msgstr: list[str] | None = None
    current: list[str] | None = None
    fuzzy = False

    def flush() -> None:
        if msgid is not None and msgstr is not None and not fuzzy:
            entries["".join(msgid)] = "".join(msgstr)

    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("#,") and "fuzzy" in line:
            flush()
            msgid = msgstr = current = None
            fuzzy = True
            continue
        if not line or line.startswith("#"):
            continue
        if line.startswith("msgid "):
            if msgstr is not None:
                flush()
                fuzzy = False
            msgid, msgstr = [], None
            current = msgid
            line = line[6:]
        elif line.startswith("msgstr "):
            msgstr = []
            current = msgstr
            line = line[7:]
        if current is None or not line.startswith('"'):
            raise ConfigError(f"catalog line {lineno}: cannot parse {raw!r}")
        current.append(ast.literal_eval(line))
    flush()
    return entries


def compile_po(text: str) -> bytes:
    """The GNU ``.mo`` bytes for a ``.po`` text (same layout as CPython's Tools/i18n/msgfmt.py)."""
    # Untranslated entries are left out (as msgfmt does) so gettext falls back to the msgid.
    entries = {k: v for k, v in parse_po(text).items() if v or not k}
    keys = sorted(entries)
    ids = b""
    strs = b""
    offsets: list[tuple[int, int, int, int]] = []
    for key in keys:
        kb, vb = key.encode(), entries[key].encode()
        offsets.append((len(ids), len(kb), len(strs), len(vb)))
        ids += kb + b"\0"
        strs += vb + b"\0"
    count = len(keys)
    keystart = 7 * 4 + 16 * count
    valuestart = keystart + len(ids)
    koffsets: list[int] = []
    voffsets: list[int] = []
    for o1, l1, o2, l2 in offsets:
        koffsets += [l1, o1 + keystart]
        voffsets += [l2, o2 + valuestart]
    out = io.BytesIO()
    out.write(struct.pack("Iiiiiii", 0x950412DE, 0, count, 7 * 4, 7 * 4 + count * 8, 0, 0))
    out.write(struct.pack(f"{len(koffsets)}i", *koffsets))
    out.write(struct.pack(f"{len(voffsets)}i", *voffsets))
    out.write(ids)
    out.write(strs)
    return out.getvalue()


def catalog_paths(language: str) -> tuple[Path, Path]:
    """The ``.po`` and ``.mo`` paths of ``language``."""
    base = LOCALE_DIR / language / "LC_MESSAGES" / DOMAIN
    return base.with_suffix(".po"), base.with_suffix(".mo")


def load_translations(language: str) -> gettext.NullTranslations:
    """The catalog of ``language``; ConfigError for a language the UI does not ship."""
    if language not in LANGUAGES:
        raise ConfigError(
            f"unknown UI language {language!r}: expected one of {', '.join(LANGUAGES)}"
        )
    po, mo = catalog_paths(language)
    if mo.is_file() and (not po.is_file() or mo.stat().st_mtime >= po.stat().st_mtime):
        data = mo.read_bytes()
    elif po.is_file():
        data = compile_po(po.read_text(encoding="utf-8"))
    else:
        raise ConfigError(f"UI catalog for {language} is missing: {po}")
    return gettext.GNUTranslations(io.BytesIO(data))


class I18n:
    """The current language and its catalog; ``t`` translates, switching is immediate."""

    def __init__(self, language: str) -> None:
        self._catalogs: dict[str, gettext.NullTranslations] = {}
        self.language = ""
        self.set_language(language)

    def set_language(self, language: str) -> None:
        """Switch the language (loads its catalog once)."""
        if language not in self._catalogs:
            self._catalogs[language] = load_translations(language)
        self.language = language
        self._gettext = self._catalogs[language].gettext

    def t(self, msgid: str) -> str:
        """The translation of ``msgid`` (the English text) in the current language."""
        return self._gettext(msgid)

    @property
    def zh(self) -> bool:
        """True when the current language is Chinese."""
        return self.language.startswith("zh")


def extract_msgids(root: Path | None = None) -> list[str]:
    """Every msgid the UI code marks: literal first arguments of ``t(...)``, ``N_(...)``."""
    found: set[str] = set()
    for path in sorted((root or Path(__file__).parent).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            arg = node.args[0]
            literal = isinstance(arg, ast.Constant) and isinstance(arg.value, str)
            if name in ("t", "N_") and literal and arg.value:
                found.add(arg.value)
    if root is None:
        # The card, kernel and QR messages are codes whose msgids live in appliance.emv and
        # appliance.services.qr_messages.
        from appliance.emv.messages import MESSAGES
        from appliance.services.qr_messages import MESSAGES as QR_MESSAGES

        found.update(MESSAGES.values())
        found.update(QR_MESSAGES.values())
    return sorted(found)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def write_po(language: str, entries: dict[str, str], msgids: list[str]) -> str:
    """A ``.po`` text for ``msgids`` with the translations in ``entries`` (others empty)."""
    header = (
        f"Project-Id-Version: countertop\\n"
        f"Language: {language}\\n"
        "MIME-Version: 1.0\\n"
        "Content-Type: text/plain; charset=UTF-8\\n"
        "Content-Transfer-Encoding: 8bit\\n"
    )
    out = [
        f"# countertop touchscreen, {LANGUAGE_NAMES.get(language, language)}.",
        'msgid ""',
        f'msgstr "{header}"',
        "",
    ]
    for msgid in msgids:
        out += [f"msgid {_quote(msgid)}", f"msgstr {_quote(entries.get(msgid, ''))}", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    """``python -m ui.i18n [extract]``: (extract msgids into the .po files, then) compile."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["extract"]:
        msgids = extract_msgids()
        for language in LANGUAGES:
            po, _mo = catalog_paths(language)
            old = parse_po(po.read_text(encoding="utf-8")) if po.is_file() else {}
            po.parent.mkdir(parents=True, exist_ok=True)
            po.write_text(write_po(language, old, msgids), encoding="utf-8")
            missing = [m for m in msgids if not old.get(m)]
            print(f"{po}: {len(msgids)} msgids, {len(missing)} untranslated")
    for language in LANGUAGES:
        po, mo = catalog_paths(language)
        mo.write_bytes(compile_po(po.read_text(encoding="utf-8")))
        print(f"compiled {mo}")


if __name__ == "__main__":
    main()
