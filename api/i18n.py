"""The languages of the pages (CONTRACT section 9): Babel catalogues, the choice of language
for a request, and numbers, times and durations formatted per language and time zone.

Catalogues live in ``api/locales/<locale>/LC_MESSAGES/messages.po`` (committed). The package
build compiles them to ``.mo`` (``build_hooks.py``); an editable install that has no ``.mo``
yet compiles the ``.po`` in memory on first use, so no manual step is ever needed. The API's
JSON bodies and error details stay English: only pages and CSV downloads are translated.
"""

from __future__ import annotations

import contextvars
import io
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime, get_timezone_name
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations
from fastapi import Request

LOCALES_DIR = Path(__file__).parent / "locales"
DOMAIN = "messages"
LANG_COOKIE = "whistle_lang"
LANG_PARAM = "lang"
# The language codes of URLs and cookies, and the Babel locale of each.
LANGUAGES: dict[str, str] = {"zh-CN": "zh_CN", "en": "en"}
LANGUAGE_NAMES: dict[str, str] = {"zh-CN": "中文", "en": "English"}
COOKIE_MAX_AGE_S = 365 * 24 * 3600


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated where it is shown."""
    return message


def normalize(value: str | None) -> str | None:
    """A language code we serve for 'zh-CN', 'zh_cn', 'zh-Hans', 'en-GB'…, or None."""
    if not value:
        return None
    tag = value.strip().replace("_", "-").lower()
    if tag == "zh" or tag.startswith("zh-"):
        return "zh-CN"
    if tag == "en" or tag.startswith("en-"):
        return "en"
    return None


def from_accept_language(header: str | None) -> str | None:
    """The served language the browser prefers most (RFC 9110 quality values)."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        code = normalize(tag)
        if code and q > 0:
            ranked.append((-q, i, code))
    return min(ranked)[2] if ranked else None


def choose(request: Request, default: str) -> tuple[str, bool]:
    """The language of a request and whether ``?lang=`` chose it (then it is remembered):
    ``?lang=``, then the ``whistle_lang`` cookie, then Accept-Language, then the default."""
    asked = normalize(request.query_params.get(LANG_PARAM))
    if asked:
        return asked, True
    chosen = (normalize(request.cookies.get(LANG_COOKIE))
              or from_accept_language(request.headers.get("accept-language"))
              or normalize(default) or "zh-CN")
    return chosen, False


def explicit(request: Request) -> str | None:
    """The language the caller chose (``?lang=`` or the cookie), None if it chose none;
    downloads that scripts also read (CSV) keep machine column names then."""
    return (normalize(request.query_params.get(LANG_PARAM))
            or normalize(request.cookies.get(LANG_COOKIE)))


def remember(response: Any, lang: str, secure: bool) -> None:
    """Keep the language picked with ``?lang=`` for the next pages."""
    response.set_cookie(LANG_COOKIE, lang, max_age=COOKIE_MAX_AGE_S, path="/",
                        samesite="lax", secure=secure)


def _catalogue_bytes(locale: str) -> bytes:
    """The compiled catalogue: the built ``.mo`` if it is up to date, else compiled now."""
    folder = LOCALES_DIR / locale / "LC_MESSAGES"
    po, mo = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    if mo.is_file() and (not po.is_file() or mo.stat().st_mtime >= po.stat().st_mtime):
        return mo.read_bytes()
    with po.open("rb") as f:
        catalog = read_po(f, locale=locale, domain=DOMAIN)
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


@cache
def translations(lang: str) -> NullTranslations:
    """The gettext translations of a served language (English is the source language)."""
    locale = LANGUAGES.get(lang, "en")
    try:
        return Translations(io.BytesIO(_catalogue_bytes(locale)), domain=DOMAIN)
    except FileNotFoundError:
        return NullTranslations()


@dataclass(frozen=True)
class Lang:
    """One request's language and time zone, with the formatting that follows from them."""

    code: str
    zone: tzinfo

    @property
    def locale(self) -> Locale:
        """The Babel locale."""
        return Locale.parse(LANGUAGES.get(self.code, "en"))

    def gettext(self, message: str) -> str:
        """The translation of a message."""
        return translations(self.code).gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """The translation of a message with a count (the language's plural rules)."""
        return translations(self.code).ngettext(singular, plural, n)

    def time(self, value: Any) -> str:
        """A timestamp as 'YYYY-MM-DD HH:MM:SS +08:00' in the configured zone."""
        if value is None:
            return "—"
        if isinstance(value, str):
            text: str = value
            try:
                value = datetime.fromisoformat(text)
            except ValueError:
                return text
        if not isinstance(value, datetime):
            return str(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return str(format_datetime(value, "yyyy-MM-dd HH:mm:ss xxx", tzinfo=self.zone,
                                   locale=self.locale))

    def zone_name(self) -> str:
        """The zone as people of this language call it, with its IANA name."""
        name = get_timezone_name(self.zone, locale=self.locale)
        return f"{name} ({self.zone})"

    def num(self, value: Any, digits: int = 1, unit: str = "") -> str:
        """A number with fixed digits (grouped per language) and a unit, or '—'."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "—"
        pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
        text = format_decimal(value, pattern, locale=self.locale)
        return text + (f" {unit}" if unit else "")

    def duration(self, seconds: Any) -> str:
        """Seconds as '42 s', '7 min 5 s', '3 h 2 min', '2 d 4 h' (or 42 秒, 7 分 5 秒…)."""
        if seconds is None:
            return "—"
        s = round(float(seconds))
        u = {k: self.gettext(v) for k, v in DURATION_UNITS.items()}
        if s < 60:
            return f"{s} {u['s']}"
        if s < 3600:
            return (f"{s // 60} {u['min']} {s % 60} {u['s']}" if s % 60
                    else f"{s // 60} {u['min']}")
        if s < 86400:
            return f"{s // 3600} {u['h']} {s % 3600 // 60} {u['min']}"
        return f"{s // 86400} {u['d']} {s % 86400 // 3600} {u['h']}"


# Units of durations (abbreviations in English; 秒, 分, 小时, 天 in Chinese).
DURATION_UNITS = {"s": N_("s"), "min": N_("min"), "h": N_("h"), "d": N_("d")}


@cache
def zone(name: str) -> tzinfo:
    """The time zone of a name (checked by the settings)."""
    return ZoneInfo(name)


_current: contextvars.ContextVar[Lang | None] = contextvars.ContextVar("whistle_lang",
                                                                       default=None)


def use(lang: Lang) -> None:
    """Make lang the language of what is rendered next in this context (one request)."""
    _current.set(lang)


def current() -> Lang:
    """The language being rendered (English in UTC outside a request)."""
    return _current.get() or Lang("en", UTC)


def gettext(message: str) -> str:
    """The current language's translation (what ``_()`` is in the templates)."""
    return current().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The current language's translation with a count."""
    return current().ngettext(singular, plural, n)
