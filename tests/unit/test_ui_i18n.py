"""The UI catalogs: shipped .mo files match their .po, every marked string is translated."""

from __future__ import annotations

import gettext
import io
import re

import pytest

from ui import i18n


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_shipped_mo_is_the_compiled_po(language: str) -> None:
    po, mo = i18n.catalog_paths(language)
    assert mo.read_bytes() == i18n.compile_po(po.read_text(encoding="utf-8")), (
        f"{mo} is stale: run python -m ui.i18n"
    )


def test_every_marked_string_has_a_chinese_translation() -> None:
    po, _ = i18n.catalog_paths("zh_CN")
    catalog = i18n.parse_po(po.read_text(encoding="utf-8"))
    missing = [m for m in i18n.extract_msgids() if not catalog.get(m)]
    assert missing == []


def test_translations_keep_every_placeholder() -> None:
    po, _ = i18n.catalog_paths("zh_CN")
    for msgid, msgstr in i18n.parse_po(po.read_text(encoding="utf-8")).items():
        if msgid:
            assert set(re.findall(r"\{\w+\}", msgid)) == set(re.findall(r"\{\w+\}", msgstr)), msgid


def test_compiled_catalog_translates_escapes_and_leaves_untranslated_to_the_msgid() -> None:
    po = (
        'msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "Sale"\nmsgstr "消费"\n\n'
        'msgid "Say \\"hi\\"\\n"\n"again"\nmsgstr "说\\"嗨\\"\\n"\n"再次"\n\n'
        'msgid "Untranslated"\nmsgstr ""\n'
    )
    cat = gettext.GNUTranslations(io.BytesIO(i18n.compile_po(po)))
    assert cat.gettext("Sale") == "消费"
    assert cat.gettext('Say "hi"\nagain') == '说"嗨"\n再次'
    assert cat.gettext("Untranslated") == "Untranslated"


def test_switching_language_changes_translations_at_once() -> None:
    tr = i18n.I18n("en")
    assert tr.t("Charge") == "Charge"
    tr.set_language("zh_CN")
    assert tr.t("Charge") == "收款"
    assert tr.zh


def test_unknown_language_is_a_config_error() -> None:
    from appliance.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown UI language"):
        i18n.I18n("fr")
