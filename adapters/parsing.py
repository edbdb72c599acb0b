"""Indonesian number and date formats, as legacy spreadsheets and exports write them.

Numbers (locale "id"): `.` groups thousands and `,` is the decimal comma: `1.250.000,00`,
`Rp 1.250.000,-`, `(1.000)`. Dates are day-first: `17-08-2025`, `17/08/2025`, `17.08.2025`,
`17 Agustus 2025`, `17 Agt 2025`, plus ISO `2025-08-17`. Clock times without a zone are in
WITA (Asia/Makassar, UTC+8), the zone of Nusa Tenggara Timur.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TypeAlias

from hub.reference.clock import WIB, WIT, WITA

__all__ = [
    "LOCALES",
    "WIB",
    "WIT",
    "WITA",
    "DateInput",
    "NumberInput",
    "ParseError",
    "parse_date",
    "parse_datetime",
    "parse_decimal",
    "parse_money",
    "parse_percent",
]

NumberInput: TypeAlias = str | int | float | Decimal | None
DateInput: TypeAlias = str | date | datetime | int | float | None


LOCALES = ("id", "en")


class ParseError(ValueError):
    """A value that cannot be read as the expected number or date."""


# --- numbers --------------------------------------------------------------------------------

# "-" (and typographic dashes) is how Indonesian spreadsheets write "no value".
_NIL = frozenset({"", "-", "\u2013", "\u2014"})
_CENT = Decimal("0.01")

_AFFIXES = re.compile(
    r"(?P<lpar>\()?\s*"
    r"(?:(?P<cur1>rp\.?|idr)\s*)?"
    r"(?P<sign>[-+\u2212])?\s*"
    r"(?:(?P<cur2>rp\.?|idr)\s*)?"
    r"(?P<lpar2>\()?\s*"
    r"(?P<num>[0-9][0-9.,]*?)"
    r"(?P<nil>[.,]-{1,2})?"  # "Rp 1.250.000,-": whole Rupiah, no cents
    r"\s*(?P<rpar>\))?",
    re.IGNORECASE,
)
_PLAIN = re.compile(r"[0-9]+")
_GROUPED = {
    "id": re.compile(r"[1-9][0-9]{0,2}(?:\.[0-9]{3})+"),
    "en": re.compile(r"[1-9][0-9]{0,2}(?:,[0-9]{3})+"),
}
_SEPARATORS = {"id": (".", ","), "en": (",", ".")}  # (thousands, decimal)
# English exports landing in Indonesian sheets: a lone dot before 1–2 digits can never be
# thousands grouping, and neither can a dot after a bare 0.
_ID_DECIMAL_POINT = re.compile(r"[0-9]+\.[0-9]{1,2}|0\.[0-9]+")


def parse_decimal(raw: NumberInput, *, locale: str = "id") -> Decimal | None:
    """Parse an Indonesian (or, with `locale="en"`, English) number to a Decimal.

    None, "" and "-" give None. With locale "id", `.` groups thousands in groups of three
    and `,` is the decimal comma: `1.250.000,00`, `1.250.000`, `1250000,5`. One exception
    reads English exports: with no comma, a single dot followed by exactly 1–2 digits
    (`1250000.00`, `12.5`), or a dot after a bare `0` (`0.125`), is a decimal point;
    `1.250` stays one thousand two hundred and fifty. A currency prefix (`Rp`, `Rp.`,
    `IDR`), a whole-Rupiah suffix (`,-`), a sign, or accounting parentheses `(1.000)` are
    accepted. Locale "en" reads `1,250,000.00`. ints and Decimals pass through; floats go
    through `str` so that 0.1 stays 0.1. Anything ambiguous raises ParseError.
    """
    if locale not in LOCALES:
        raise ValueError(f"locale must be one of {LOCALES}, not {locale!r}")
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise ParseError(f"{raw!r} is a yes/no value, not a number")
    if isinstance(raw, int):
        return Decimal(raw)
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise ParseError(f"{raw!r} is not a finite number")
        return _unsigned_zero(Decimal(repr(raw)))
    if isinstance(raw, Decimal):
        if not raw.is_finite():
            raise ParseError(f"{raw!r} is not a finite number")
        return _unsigned_zero(raw)
    if not isinstance(raw, str):
        raise ParseError(f"{raw!r} is not a number (a {type(raw).__name__})")
    text = raw.strip()
    if text in _NIL:
        return None
    match = _AFFIXES.fullmatch(text)
    if match is None:
        raise ParseError(f"{raw!r} is not a number")
    group = match.groupdict()
    opened = [key for key in ("lpar", "lpar2") if group[key]]
    if group["cur1"] and group["cur2"]:
        raise ParseError(f"{raw!r} is not a number: the currency appears twice")
    if len(opened) != (1 if group["rpar"] else 0) or len(opened) > 1:
        raise ParseError(f"{raw!r} is not a number: unbalanced parentheses")
    if opened and group["sign"]:
        raise ParseError(f"{raw!r} is not a number: both a sign and parentheses")
    thousands, point = _SEPARATORS[locale]
    core = group["num"]
    if group["nil"] and (group["nil"][0] != point or point in core):
        raise ParseError(f"{raw!r} is not a number: {group['nil']!r} after {core!r}")
    digits = _canonical_digits(core, locale)
    if digits is None:
        example = "1.250.000,00" if locale == "id" else "1,250,000.00"
        raise ParseError(
            f"{raw!r} is not a number in the {locale!r} format: {thousands!r} must group "
            f"thousands in threes and {point!r} mark decimals, as in {example}"
        )
    negative = bool(opened) or group["sign"] in ("-", "\u2212")
    value = Decimal(("-" if negative else "") + digits)
    return _unsigned_zero(value)


def parse_money(raw: NumberInput, *, locale: str = "id") -> Decimal | None:
    """parse_decimal, quantized to whole cents (sen) rounding half up."""
    value = parse_decimal(raw, locale=locale)
    if value is None:
        return None
    try:
        return value.quantize(_CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        raise ParseError(f"{raw!r} is too large an amount") from None


def parse_percent(raw: NumberInput, *, locale: str = "id") -> Decimal | None:
    """Parse a percentage such as `45,5 %` or `45.5` to Decimal("45.5").

    The number is taken as a percent as written: 0.455 is 0.455 %, never 45.5 %, since a
    fraction and a small percent cannot be told apart. No range is enforced (indicator
    achievement may exceed 100 %).
    """
    if not isinstance(raw, str):
        return parse_decimal(raw, locale=locale)
    text = raw.strip()
    if text.endswith("%"):
        text = text[:-1].rstrip()
    try:
        return parse_decimal(text, locale=locale)
    except ParseError:
        raise ParseError(f"{raw!r} is not a percentage") from None


def _canonical_digits(core: str, locale: str) -> str | None:
    thousands, point = _SEPARATORS[locale]
    whole, has_point, fraction = core.partition(point)
    if has_point and not _PLAIN.fullmatch(fraction):
        return None
    if _GROUPED[locale].fullmatch(whole):
        whole = whole.replace(thousands, "")
    elif not _PLAIN.fullmatch(whole):
        if locale == "id" and not has_point and _ID_DECIMAL_POINT.fullmatch(core):
            return core
        return None
    return f"{whole}.{fraction}" if has_point else whole


def _unsigned_zero(value: Decimal) -> Decimal:
    # "-0,00" and "(0)" occur in exports; a signed zero would print as "-0.00".
    return value.copy_abs() if value.is_zero() else value


# --- dates ----------------------------------------------------------------------------------

_MONTHS: dict[str, int] = {
    **dict.fromkeys(("januari", "jan", "january"), 1),
    **dict.fromkeys(("februari", "pebruari", "feb", "peb", "february"), 2),
    **dict.fromkeys(("maret", "mar", "march"), 3),
    **dict.fromkeys(("april", "apr"), 4),
    **dict.fromkeys(("mei", "may"), 5),
    **dict.fromkeys(("juni", "jun", "june"), 6),
    **dict.fromkeys(("juli", "jul", "july"), 7),
    **dict.fromkeys(("agustus", "agu", "agt", "ags", "agst", "aug", "august"), 8),
    **dict.fromkeys(("september", "sep", "sept"), 9),
    **dict.fromkeys(("oktober", "okt", "october", "oct"), 10),
    **dict.fromkeys(("november", "nopember", "nov", "nop"), 11),
    **dict.fromkeys(("desember", "des", "december", "dec"), 12),
}
_WEEKDAYS = frozenset(
    {"senin", "selasa", "rabu", "kamis", "jumat", "jum'at", "sabtu", "minggu", "ahad"}
    | {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
)
_ZONES: dict[str, tzinfo] = {"wib": WIB, "wita": WITA, "wit": WIT, "z": UTC}

_TIME = (
    r"(?:[T ]|\s+|\s*,\s*)(?:(?:pukul|jam|pk\.?)\s*)?"
    r"(?P<hour>[0-9]{1,2})[:.](?P<minute>[0-9]{2})"
    r"(?:[:.](?P<second>[0-9]{2})(?:[.,](?P<fraction>[0-9]{1,6}))?)?"
    r"\s*(?P<zone>z|[+-][0-9]{2}(?::?[0-9]{2})?|wita|wib|wit)?"
)
_DATE_FORMS = (
    # Year first is always year-month-day (ISO and its / and . variants).
    r"(?P<year>[0-9]{4})(?P<sep>[-/.])(?P<month>[0-9]{1,2})(?P=sep)(?P<day>[0-9]{1,2})",
    # Otherwise day first, never month first: 03-04-2025 is 3 April.
    r"(?P<day>[0-9]{1,2})(?P<sep>[-/.])(?P<month>[0-9]{1,2})(?P=sep)(?P<year>[0-9]{4})",
    r"(?:(?P<weekday>[a-z']+)(?:\s*,\s*|\s+))?"
    r"(?P<day>[0-9]{1,2})[\s\-/.]*(?P<month_name>[a-z]+)\.?[\s\-/.,]*(?P<year>[0-9]{4})",
)
_DATE_PATTERNS = tuple(re.compile(rf"{form}(?:{_TIME})?", re.IGNORECASE) for form in _DATE_FORMS)
_WORD = re.compile(r"[A-Za-z]+")
_EXCEL_EPOCH = datetime(1899, 12, 30)
_EXAMPLES = "17-08-2025, 17/08/2025, 17.08.2025, 17 Agustus 2025 or 2025-08-17"


def parse_date(raw: DateInput, *, formats: Sequence[str] | None = None) -> date | None:
    """Parse a day-first Indonesian date, an ISO date, or an Excel serial number.

    Accepted: `17-08-2025`, `17/08/2025`, `17.08.2025` (always day first), ISO
    `2025-08-17` (year first), `17 Agustus 2025`, `17 Agt 2025`, `Minggu, 17 Agustus 2025`
    (Indonesian or English month names and abbreviations), each optionally followed by a
    clock time, which is dropped (the date is the one written, whatever the zone). Two-digit
    years are refused. A datetime gives its date; an int or float is an Excel serial day
    (1900 system: 45886 is 2025-08-17). None, "" and "-" give None. `formats` (strptime
    patterns, tried in order; `%b`/`%B` also match Indonesian month names) replaces the
    detection. Raises ParseError for anything else, including impossible dates (31-02-2025).
    """
    if raw is None:
        return None
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    if isinstance(raw, bool):
        raise ParseError(f"{raw!r} is a yes/no value, not a date")
    if isinstance(raw, int | float):
        return _from_excel(raw).date()
    if not isinstance(raw, str):
        raise ParseError(f"{raw!r} is not a date (a {type(raw).__name__})")
    text = raw.strip()
    if text in _NIL:
        return None
    if formats:
        return _strptime(text, formats, raw).date()
    day, _, _ = _parse_text(text, raw)
    return day


def parse_datetime(
    raw: DateInput,
    *,
    formats: Sequence[str] | None = None,
    default_tz: tzinfo = WITA,
) -> datetime | None:
    """Parse a date and time to a timezone-aware datetime.

    Accepts what parse_date accepts, with an optional time after a space, `T` or comma:
    `17-08-2025 14:30`, `17-08-2025 14.30.00` (Indonesian dots), `2025-08-17T14:30:00+08:00`,
    `17 Agustus 2025 pukul 14.30 WIB`. A zone may be `Z`, an offset, or WIB/WITA/WIT.
    A value with no zone (naive datetimes, Excel serials, zone-less text) is taken to be in
    `default_tz`, WITA (Asia/Makassar) unless given; a date alone is midnight there.
    """
    if raw is None:
        return None
    if isinstance(raw, datetime):
        return raw if _is_aware(raw) else raw.replace(tzinfo=default_tz)
    if isinstance(raw, date):
        return datetime.combine(raw, time(), default_tz)
    if isinstance(raw, bool):
        raise ParseError(f"{raw!r} is a yes/no value, not a date")
    if isinstance(raw, int | float):
        return _from_excel(raw).replace(tzinfo=default_tz)
    if not isinstance(raw, str):
        raise ParseError(f"{raw!r} is not a date (a {type(raw).__name__})")
    text = raw.strip()
    if text in _NIL:
        return None
    if formats:
        moment = _strptime(text, formats, raw)
        return moment if _is_aware(moment) else moment.replace(tzinfo=default_tz)
    day, clock, zone = _parse_text(text, raw)
    return datetime.combine(day, clock, zone or default_tz)


def _is_aware(moment: datetime) -> bool:
    return moment.tzinfo is not None and moment.utcoffset() is not None


def _parse_text(text: str, raw: str) -> tuple[date, time, tzinfo | None]:
    for pattern in _DATE_PATTERNS:
        match = pattern.fullmatch(text)
        if match is not None:
            break
    else:
        raise ParseError(f"{raw!r} is not a date: expected e.g. {_EXAMPLES}")
    found = match.groupdict()
    if found.get("month_name") is not None:
        name = found["month_name"]
        month = _MONTHS.get(name.lower())
        if month is None:
            raise ParseError(f"{raw!r} is not a date: unknown month name {name!r}")
        weekday = found.get("weekday")
        if weekday is not None and weekday.lower() not in _WEEKDAYS:
            raise ParseError(f"{raw!r} is not a date: unknown day name {weekday!r}")
    else:
        month = int(found["month"])
    try:
        day = date(int(found["year"]), month, int(found["day"]))
    except ValueError as exc:
        raise ParseError(f"{raw!r} is not a valid date: {exc}") from None
    if found["hour"] is None:
        return day, time(), None
    fraction = (found["fraction"] or "").ljust(6, "0")
    try:
        clock = time(
            int(found["hour"]), int(found["minute"]), int(found["second"] or 0), int(fraction)
        )
    except ValueError as exc:
        raise ParseError(f"{raw!r} is not a valid time: {exc}") from None
    return day, clock, _zone(found["zone"], raw)


def _zone(text: str | None, raw: str) -> tzinfo | None:
    if text is None:
        return None
    named = _ZONES.get(text.lower())
    if named is not None:
        return named
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        raise ParseError(f"{raw!r} has an impossible UTC offset {text!r}")
    offset = timedelta(hours=hours, minutes=minutes)
    return timezone(-offset if text[0] == "-" else offset)


def _strptime(text: str, formats: Sequence[str], raw: str) -> datetime:
    for fmt in formats:
        for candidate, pattern in _variants(text, fmt):
            try:
                return datetime.strptime(candidate, pattern)
            except ValueError:
                continue
    raise ParseError(f"{raw!r} matches none of the date formats {list(formats)!r}")


def _variants(text: str, fmt: str) -> list[tuple[str, str]]:
    variants = [(text, fmt)]
    if "%b" in fmt or "%B" in fmt:
        # strptime knows only the C locale's English month names; rewrite Indonesian ones
        # as numbers rather than switching the process-wide locale.
        def number(match: re.Match[str]) -> str:
            month = _MONTHS.get(match.group(0).lower())
            return match.group(0) if month is None else f"{month:02d}"

        variants.append((_WORD.sub(number, text), fmt.replace("%B", "%m").replace("%b", "%m")))
    return variants


def _from_excel(serial: int | float) -> datetime:
    if not math.isfinite(serial) or serial < 1:
        raise ParseError(f"{serial!r} is not an Excel date serial number (1 is 1900-01-01)")
    if math.floor(serial) == 60:
        raise ParseError(f"{serial!r} is Excel's 29 February 1900, which never existed")
    # Excel's 1900 system counts a 29 February 1900; serials before it are one day later
    # than plain arithmetic from 1899-12-30 gives.
    days_shift = 1 if serial < 60 else 0
    try:
        # Whole milliseconds: a float serial carries noise below that (14:30 → 14:29:59.99…).
        return _EXCEL_EPOCH + timedelta(days=days_shift, milliseconds=round(serial * 86_400_000))
    except OverflowError:
        raise ParseError(f"{serial!r} is beyond the last date Excel can hold") from None
