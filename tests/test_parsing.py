"""Indonesian numbers and dates: what spreadsheets and exports write parses to the value
meant, and anything ambiguous is refused with the input quoted."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.parsing import (
    WIB,
    WITA,
    ParseError,
    parse_date,
    parse_datetime,
    parse_decimal,
    parse_money,
    parse_percent,
)

# No example database: it would leave a .hypothesis folder in the working tree.
property_test = settings(database=None)

MONTH_NAMES = {
    1: ["Januari", "Jan"],
    2: ["Februari", "Feb", "Peb"],
    3: ["Maret", "Mar"],
    4: ["April", "Apr"],
    5: ["Mei"],
    6: ["Juni", "Jun"],
    7: ["Juli", "Jul"],
    8: ["Agustus", "Agu", "Agt", "Ags"],
    9: ["September", "Sep", "Sept"],
    10: ["Oktober", "Okt"],
    11: ["November", "Nov", "Nop"],
    12: ["Desember", "Des"],
}
NUMERIC_DATE_FORMATS = ["%d-%m-%Y", "%d/%m/%Y", "%d.%m.%Y", "%Y-%m-%d", "%Y/%m/%d"]


def format_id(value: Decimal, *, grouped: bool, currency: str = "", parens: bool = False) -> str:
    """Write a Decimal as an Indonesian spreadsheet would: 1.250.000,50."""
    whole, _, fraction = f"{abs(value):f}".partition(".")
    body = f"{int(whole):,}".replace(",", ".") if grouped else whole
    if fraction:
        body += "," + fraction
    body = currency + body
    if value < 0:
        return f"({body})" if parens else "-" + body
    return body


money_values = st.decimals(
    min_value=Decimal(-(10**15)),
    max_value=Decimal(10**15),
    places=2,
    allow_nan=False,
    allow_infinity=False,
)


# --- numbers: examples ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1.250.000,00", Decimal("1250000.00")),
        ("1.250.000", Decimal("1250000")),
        ("1250000,5", Decimal("1250000.5")),
        ("1250000", Decimal("1250000")),
        ("Rp 1.250.000,00", Decimal("1250000.00")),
        ("Rp1.250.000", Decimal("1250000")),
        ("Rp.1.250.000", Decimal("1250000")),
        ("Rp\u00a01.250.000,-", Decimal("1250000")),
        ("IDR 2.500", Decimal("2500")),
        ("-1.000", Decimal("-1000")),
        ("(1.000)", Decimal("-1000")),
        ("(Rp 1.000,50)", Decimal("-1000.50")),
        ("Rp -1.000", Decimal("-1000")),
        ("-Rp 1.000", Decimal("-1000")),
        ("+1.000", Decimal("1000")),
        ("-0,00", Decimal("0.00")),
        # English exports: a lone dot before 1–2 digits, or after a bare 0, is a decimal point.
        ("1250000.00", Decimal("1250000.00")),
        ("12.5", Decimal("12.5")),
        ("0.125", Decimal("0.125")),
        # …but a dot before three digits is always thousands.
        ("1.250", Decimal("1250")),
        (" 7 ", Decimal("7")),
        (1250000, Decimal("1250000")),
        (0.1, Decimal("0.1")),
        (Decimal("3.10"), Decimal("3.10")),
    ],
)
def test_parse_decimal_examples(raw: str | int | float | Decimal, expected: Decimal) -> None:
    result = parse_decimal(raw)
    assert result == expected
    assert isinstance(result, Decimal)
    assert str(result) == str(expected)


@pytest.mark.parametrize("raw", [None, "", "  ", "-", " - ", "\u2013"])
def test_parse_decimal_nil(raw: str | None) -> None:
    assert parse_decimal(raw) is None
    assert parse_money(raw) is None
    assert parse_percent(raw) is None


@pytest.mark.parametrize(
    "raw",
    [
        "1.25.000",  # groups of three or nothing
        "1.2500",
        "12.50.000,00",
        "1.250.000.00",
        "1,250.00",  # English grouping under the Indonesian locale
        "1,2,3",
        "01.250",
        ",5",
        "1.250,",
        "1 250 000",
        "abc",
        "Rp",
        "Rp Rp 1",
        "(1.000",
        "(-1.000)",
        "1.250.000.-",
        "1e6",
        "١٢٣",  # non-ASCII digits
    ],
)
def test_parse_decimal_refuses_ambiguous_or_invalid(raw: str) -> None:
    with pytest.raises(ParseError, match=re.escape(repr(raw))):
        parse_decimal(raw)


@pytest.mark.parametrize("raw", [True, float("nan"), float("inf"), Decimal("NaN")])
def test_parse_decimal_refuses_non_numbers(raw: bool | float | Decimal) -> None:
    with pytest.raises(ParseError):
        parse_decimal(raw)


def test_english_locale() -> None:
    assert parse_decimal("1,250,000.00", locale="en") == Decimal("1250000.00")
    assert parse_decimal("1,250", locale="en") == Decimal("1250")
    assert parse_decimal("(1,000.5)", locale="en") == Decimal("-1000.5")
    with pytest.raises(ParseError, match=re.escape("1.250.000,00")):
        parse_decimal("1.250.000,00", locale="en")
    with pytest.raises(ParseError):
        parse_decimal("1,25", locale="en")
    with pytest.raises(ValueError, match="locale"):
        parse_decimal("1", locale="fr")


def test_parse_money_rounds_half_up_to_cents() -> None:
    assert parse_money("1.250.000,005") == Decimal("1250000.01")
    assert parse_money("1.250.000,004") == Decimal("1250000.00")
    assert parse_money("-0,005") == Decimal("-0.01")
    assert str(parse_money("Rp 1.250.000,-")) == "1250000.00"
    assert str(parse_money(1250000)) == "1250000.00"
    with pytest.raises(ParseError, match="too large"):
        parse_money("1" + "0" * 30)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("45,5 %", Decimal("45.5")),
        ("45,5%", Decimal("45.5")),
        ("45.5", Decimal("45.5")),
        ("100", Decimal("100")),
        ("120,25 %", Decimal("120.25")),
        ("0,455", Decimal("0.455")),  # a percent as given, never a guessed fraction
        (0.455, Decimal("0.455")),
        (45, Decimal("45")),
    ],
)
def test_parse_percent(raw: str | float, expected: Decimal) -> None:
    assert parse_percent(raw) == expected


def test_parse_percent_error_quotes_input() -> None:
    with pytest.raises(ParseError, match=re.escape("'45,5,5 %'")):
        parse_percent("45,5,5 %")


# --- numbers: properties --------------------------------------------------------------------


@property_test
@given(money_values, st.booleans(), st.sampled_from(["", "Rp ", "Rp", "Rp. ", "Rp\u00a0"]))
def test_indonesian_rendering_round_trips(value: Decimal, grouped: bool, currency: str) -> None:
    raw = format_id(value, grouped=grouped, currency=currency)
    assert parse_decimal(raw) == value
    assert parse_money(raw) == value


@property_test
@given(money_values.filter(lambda v: v < 0))
def test_accounting_parentheses_round_trip(value: Decimal) -> None:
    assert parse_decimal(format_id(value, grouped=True, parens=True)) == value


@property_test
@given(
    st.decimals(
        min_value=Decimal("-1e12"),
        max_value=Decimal("1e12"),
        places=4,
        allow_nan=False,
        allow_infinity=False,
    )
)
def test_indonesian_rendering_keeps_any_scale(value: Decimal) -> None:
    assert parse_decimal(format_id(value, grouped=True)) == value


@property_test
@given(money_values)
def test_english_rendering_round_trips(value: Decimal) -> None:
    assert parse_decimal(f"{value:,.2f}", locale="en") == value
    # English exports read under the Indonesian locale: the decimal-point rule.
    assert parse_decimal(f"{value:.2f}") == value


@property_test
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_pass_through_their_shortest_repr(value: float) -> None:
    result = parse_decimal(value)
    assert result is not None
    assert float(result) == value


# --- dates: examples ------------------------------------------------------------------------

AUGUST_17 = date(2025, 8, 17)


@pytest.mark.parametrize(
    "raw",
    [
        "17-08-2025",
        "17/08/2025",
        "17.08.2025",
        "2025-08-17",
        "2025/08/17",
        "17 Agustus 2025",
        "17 agustus 2025",
        "17 Agt 2025",
        "17 Ags 2025",
        "17 Agu 2025",
        "17 Agt. 2025",
        "17-Agt-2025",
        "17 August 2025",
        "17-Aug-2025",
        "Minggu, 17 Agustus 2025",
        " 17-08-2025 ",
        "17-08-2025 00:00:00",
        "2025-08-17T23:30:00+00:00",  # the date as written, not shifted to WITA
        45886,
        45886.99,
        datetime(2025, 8, 17, 14, 30),
        AUGUST_17,
    ],
)
def test_parse_date_examples(raw: str | int | float | date) -> None:
    assert parse_date(raw) == AUGUST_17


def test_parse_date_is_day_first() -> None:
    assert parse_date("03-04-2025") == date(2025, 4, 3)
    assert parse_date("1-8-2025") == date(2025, 8, 1)
    assert parse_date("17 Peb 2025") == date(2025, 2, 17)
    assert parse_date("5 Nop 2024") == date(2024, 11, 5)


def test_excel_serials_use_the_1900_system() -> None:
    assert parse_date(1) == date(1900, 1, 1)
    assert parse_date(59) == date(1900, 2, 28)
    assert parse_date(61) == date(1900, 3, 1)
    with pytest.raises(ParseError, match="29 February 1900"):
        parse_date(60)
    with pytest.raises(ParseError):
        parse_date(0)


def test_explicit_formats_override_detection() -> None:
    assert parse_date("08/17/2025", formats=["%m/%d/%Y"]) == AUGUST_17
    assert parse_date("17 Agustus 2025", formats=["%d %B %Y"]) == AUGUST_17
    assert parse_date("17 Agt 2025", formats=["%d %b %Y"]) == AUGUST_17
    assert parse_date("20250817", formats=["%Y-%m-%d", "%Y%m%d"]) == AUGUST_17
    with pytest.raises(ParseError, match=re.escape("'17-08-2025'")):
        parse_date("17-08-2025", formats=["%Y-%m-%d"])
    with pytest.raises(ParseError, match="17"):
        parse_date("08/17/2025")  # detection is day-first: there is no month 17


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("31-02-2025", "not a valid date"),
        ("29-02-2025", "not a valid date"),
        ("2025-13-01", "not a valid date"),
        ("00-01-2025", "not a valid date"),
        ("17-08-25", "not a date"),  # two-digit years are refused
        ("17-08/2025", "not a date"),  # mixed separators
        ("17 Foo 2025", "unknown month name 'Foo'"),
        ("Senen, 17 Agustus 2025", "unknown day name 'Senen'"),
        ("17-08-2025 25:00", "not a valid time"),
        ("45886", "not a date"),  # serials only as numbers, never as text
        ("kemarin", "not a date"),
    ],
)
def test_parse_date_errors(raw: str, problem: str) -> None:
    with pytest.raises(ParseError, match=re.escape(problem)) as caught:
        parse_date(raw)
    assert repr(raw) in str(caught.value)


@pytest.mark.parametrize("raw", [True, -1, float("nan"), 10**9])
def test_parse_date_refuses_non_dates(raw: int | float) -> None:
    with pytest.raises(ParseError):
        parse_date(raw)


def test_parse_date_nil() -> None:
    assert parse_date(None) is None
    assert parse_date("") is None
    assert parse_date(" - ") is None
    assert parse_datetime("") is None


# --- datetimes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("17-08-2025 14:30", datetime(2025, 8, 17, 14, 30, tzinfo=WITA)),
        ("17-08-2025 14:30:15", datetime(2025, 8, 17, 14, 30, 15, tzinfo=WITA)),
        ("17-08-2025 14.30", datetime(2025, 8, 17, 14, 30, tzinfo=WITA)),
        ("17 Agustus 2025 pukul 14.30", datetime(2025, 8, 17, 14, 30, tzinfo=WITA)),
        ("17/08/2025 14:30 WIB", datetime(2025, 8, 17, 14, 30, tzinfo=WIB)),
        ("2025-08-17T14:30:00", datetime(2025, 8, 17, 14, 30, tzinfo=WITA)),
        ("2025-08-17T06:30:00Z", datetime(2025, 8, 17, 14, 30, tzinfo=WITA)),
        ("2025-08-17T14:30:00.5+08:00", datetime(2025, 8, 17, 14, 30, 0, 500000, tzinfo=WITA)),
        ("2025-08-17 14:30:00+0700", datetime(2025, 8, 17, 14, 30, tzinfo=WIB)),
        ("17-08-2025", datetime(2025, 8, 17, tzinfo=WITA)),
        (AUGUST_17, datetime(2025, 8, 17, tzinfo=WITA)),
        (datetime(2025, 8, 17, 14, 30), datetime(2025, 8, 17, 14, 30, tzinfo=WITA)),
        (datetime(2025, 8, 17, 6, 30, tzinfo=UTC), datetime(2025, 8, 17, 14, 30, tzinfo=WITA)),
        (45886.6041666667, datetime(2025, 8, 17, 14, 30, tzinfo=WITA)),
    ],
)
def test_parse_datetime_examples(raw: str | date | float, expected: datetime) -> None:
    result = parse_datetime(raw)
    assert result is not None
    assert result.tzinfo is not None
    assert result == expected


def test_parse_datetime_default_zone_and_formats() -> None:
    naive_utc = parse_datetime("17-08-2025 14:30", default_tz=UTC)
    assert naive_utc == datetime(2025, 8, 17, 14, 30, tzinfo=UTC)
    explicit = parse_datetime("17/08/2025 14h30", formats=["%d/%m/%Y %Hh%M"])
    assert explicit == datetime(2025, 8, 17, 14, 30, tzinfo=WITA)
    assert explicit is not None
    assert explicit.tzinfo is WITA
    with pytest.raises(ParseError, match="UTC offset"):
        parse_datetime("2025-08-17T14:30+25:00")


# --- dates: properties ----------------------------------------------------------------------

dates = st.dates(min_value=date(1900, 3, 1), max_value=date(2100, 12, 31))


@property_test
@given(dates, st.sampled_from(NUMERIC_DATE_FORMATS))
def test_numeric_dates_round_trip(day: date, fmt: str) -> None:
    assert parse_date(day.strftime(fmt)) == day


@property_test
@given(dates, st.sampled_from(["-", "/", "."]))
def test_unpadded_numeric_dates_round_trip(day: date, separator: str) -> None:
    raw = separator.join(map(str, (day.day, day.month, day.year)))
    assert parse_date(raw) == day


@property_test
@given(st.data(), dates, st.sampled_from(["{d} {m} {y}", "{d}-{m}-{y}", "{d} {m}. {y}"]))
def test_month_name_dates_round_trip(data: st.DataObject, day: date, template: str) -> None:
    name = data.draw(st.sampled_from(MONTH_NAMES[day.month]))
    name = data.draw(st.sampled_from([name, name.lower(), name.upper()]))
    day_text = data.draw(st.sampled_from([str(day.day), f"{day.day:02d}"]))
    raw = template.format(d=day_text, m=name, y=day.year)
    assert parse_date(raw) == day
    assert parse_date(raw, formats=["%d %b %Y", "%d-%b-%Y", "%d %b. %Y"]) == day


@property_test
@given(dates)
def test_excel_serials_round_trip(day: date) -> None:
    assert parse_date((day - date(1899, 12, 30)).days) == day


@property_test
@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 12, 31)))
def test_naive_datetimes_round_trip_in_wita(moment: datetime) -> None:
    moment = moment.replace(microsecond=0)
    expected = moment.replace(tzinfo=WITA)
    assert parse_datetime(moment.strftime("%d-%m-%Y %H:%M:%S")) == expected
    assert parse_datetime(moment.strftime("%d/%m/%Y %H.%M.%S")) == expected
    assert parse_datetime(moment.isoformat()) == expected


@property_test
@given(
    st.datetimes(
        min_value=datetime(1990, 1, 1),
        max_value=datetime(2100, 12, 31),
        timezones=st.sampled_from([UTC, WITA, WIB, timezone(timedelta(hours=-5, minutes=-30))]),
    )
)
def test_aware_iso_datetimes_round_trip(moment: datetime) -> None:
    assert parse_datetime(moment.isoformat()) == moment
    assert parse_date(moment.isoformat()) == moment.date()
