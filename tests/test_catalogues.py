"""The catalogues cover the pages: every string of a template, of the dashboard's Python
and of the scripts (which take theirs from the page) has a zh_CN translation."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from api import i18n
from api.dashboard import labels

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ROOT / "api" / "locales"
METHODS = [("api/dashboard/templates/**.html", "jinja2"), ("api/**.py", "python")]
OPTIONS = {"api/dashboard/templates/**.html": {"extensions": "jinja2.ext.i18n",
                                                 "newstyle_gettext": "true",
                                                 "trimmed": "true"}}


def extracted() -> set[str]:
    """Every msgid of the sources, as pybabel extract finds them (api/locales/babel.cfg)."""
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), METHODS, OPTIONS):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def test_every_string_of_the_pages_has_a_chinese_translation() -> None:
    with (LOCALES / "zh_CN" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        zh = read_po(f, locale="zh_CN")
    translated = {(m.id[0] if isinstance(m.id, tuple) else m.id) for m in zh
                  if m.id and all(m.string if isinstance(m.string, tuple) else [m.string])}
    messages = extracted()
    assert len(messages) > 250  # the extraction found the templates, not nothing
    missing = sorted(messages - translated)
    assert missing == [], ("strings without a zh_CN translation (pybabel extract, then "
                           f"tools/zh_cn.py): {missing}")


def test_the_scripts_ask_only_for_strings_the_page_gives_them() -> None:
    scripts = "".join(p.read_text() for p in (ROOT / "api/dashboard/static/js").glob("*.js"))
    asked = set(re.findall(r'\bt\("([\w.]+)"[,)]', scripts))
    asked |= set(re.findall(r'\["(chart\.\w+)"', scripts))
    asked |= {"toast." + a for a in ("ack", "arrive", "resolve")}
    assert asked and asked <= set(labels.SCRIPT_TEXT), asked - set(labels.SCRIPT_TEXT)
    # and no English sentence of their own is left in them (words come from the page)
    leftovers = set(re.findall(r'"((?:[A-Z][a-z]+|[a-z]+) [a-z]+[^"]*)"', scripts))
    assert leftovers <= {"use strict", "main input[name=note]"}, leftovers


def test_a_catalogue_without_its_mo_is_compiled_in_memory(tmp_path, monkeypatch) -> None:
    folder = tmp_path / "zh_CN" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "messages.po").write_bytes(
        (LOCALES / "zh_CN" / "LC_MESSAGES" / "messages.po").read_bytes())
    monkeypatch.setattr(i18n, "LOCALES_DIR", tmp_path)
    i18n.translations.cache_clear()
    try:
        assert i18n.translations("zh-CN").gettext("Report for duty") == "报到"
        assert not (folder / "messages.mo").exists()
    finally:
        i18n.translations.cache_clear()


def test_language_choice_and_formatting() -> None:
    assert i18n.from_accept_language("fr;q=1, en-GB;q=0.8, zh-CN;q=0.9") == "zh-CN"
    assert i18n.from_accept_language("de, fr") is None
    assert i18n.normalize("zh_cn") == i18n.normalize("zh-Hans") == "zh-CN"
    from datetime import UTC, datetime

    zh = i18n.Lang("zh-CN", i18n.zone("Asia/Shanghai"))
    en = i18n.Lang("en", i18n.zone("Asia/Shanghai"))
    t = datetime(2026, 12, 2, 14, 5, 9, tzinfo=UTC)
    assert zh.time(t) == en.time(t) == "2026-12-02 22:05:09 +08:00"
    assert zh.duration(425) == "7 分 5 秒" and en.duration(425) == "7 min 5 s"
    assert en.num(1234.5, 2, "kg") == "1,234.50 kg"
    assert en.ngettext("alert", "alerts", 2) == "alerts"
    assert zh.ngettext("alert", "alerts", 2) == "条告警"
    assert "Asia/Shanghai" in zh.zone_name() and "中国" in zh.zone_name()


def test_the_deployed_defaults_are_chinese_in_shanghai_time() -> None:
    import pytest

    from core.settings import Settings

    s = Settings(_env_file=None)
    assert (s.default_lang, s.timezone) == ("zh-CN", "Asia/Shanghai")
    with pytest.raises(ValueError, match="WHISTLE_TIMEZONE"):
        Settings(timezone="Mars/Olympus")
