"""Code normalisation: legacy spellings of planning, account, OPD and region codes become the
canonical dotted, zero-padded form of DOMAIN.md, and malformed codes are refused by name."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.codes import (
    ACCOUNT_WIDTHS,
    ACTIVITY_WIDTHS,
    OPD_WIDTHS,
    PROGRAM_WIDTHS,
    SUB_ACTIVITY_WIDTHS,
    CodeError,
    canonical_pattern,
    is_canonical_account_code,
    is_canonical_code,
    is_canonical_opd_code,
    is_canonical_region_code,
    is_canonical_sub_activity_code,
    normalise_account_code,
    normalise_activity_code,
    normalise_code,
    normalise_opd_code,
    normalise_program_code,
    normalise_region_code,
    normalise_sub_activity_code,
    split_mak,
)

# No example database: it would leave a .hypothesis folder in the working tree.
property_test = settings(database=None)

NORMALISERS: dict[tuple[int, ...], Callable[[str], str]] = {
    SUB_ACTIVITY_WIDTHS: normalise_sub_activity_code,
    ACTIVITY_WIDTHS: normalise_activity_code,
    PROGRAM_WIDTHS: normalise_program_code,
    ACCOUNT_WIDTHS: normalise_account_code,
    OPD_WIDTHS: normalise_opd_code,
}
SEPARATORS = [".", "-", "/", " ", " . ", ". ", " .", "  ", " - ", "\u00a0"]


@st.composite
def segment_values(draw: st.DrawFn, widths: tuple[int, ...]) -> list[int]:
    return [draw(st.integers(0, 10**width - 1)) for width in widths]


def canonical(values: list[int], widths: tuple[int, ...]) -> str:
    return ".".join(str(value).zfill(width) for value, width in zip(values, widths, strict=True))


@st.composite
def legacy_rendering(draw: st.DrawFn, values: list[int], widths: tuple[int, ...]) -> str:
    """The code as a legacy copy might write it: some padding lost, mixed separators."""
    parts = []
    for value, width in zip(values, widths, strict=True):
        digits = str(value)
        parts.append(digits.zfill(draw(st.integers(len(digits), max(width, len(digits))))))
    text = parts[0]
    for part in parts[1:]:
        text += draw(st.sampled_from(SEPARATORS)) + part
    if draw(st.booleans()):
        text += "."  # a mak's trailing dot
    return draw(st.sampled_from(["", " ", "\t"])) + text + draw(st.sampled_from(["", " "]))


# --- examples from DOMAIN.md ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("normalise", "raw", "expected"),
    [
        (normalise_sub_activity_code, "1.3.10.1.1.31", "1.03.10.1.01.0031"),
        (normalise_sub_activity_code, "1.03.10.1.01.0031", "1.03.10.1.01.0031"),
        (normalise_sub_activity_code, " 1. 03 .10. 1 .01.0031 ", "1.03.10.1.01.0031"),
        (normalise_sub_activity_code, "1-03-10-1-01-0031", "1.03.10.1.01.0031"),
        (normalise_sub_activity_code, "1/3/10/1/1/31", "1.03.10.1.01.0031"),
        (normalise_sub_activity_code, "1 03 10 1 01 0031", "1.03.10.1.01.0031"),
        (normalise_sub_activity_code, "103101010031", "1.03.10.1.01.0031"),
        (normalise_sub_activity_code, "10310101 0031", "1.03.10.1.01.0031"),
        (normalise_sub_activity_code, "1.03.10.1.01.0031.", "1.03.10.1.01.0031"),
        (normalise_activity_code, "1.3.10.1.1", "1.03.10.1.01"),
        (normalise_program_code, "1. 03 .10", "1.03.10"),
        (normalise_account_code, "5.1.2.1.1.24", "5.1.02.01.01.0024"),
        (normalise_account_code, "5.2.04.01.01.0003", "5.2.04.01.01.0003"),
        (normalise_opd_code, "1.3.0.0.0.0.1.0", "1.03.0.00.0.00.01.0000"),
        (normalise_opd_code, "1.02.0.00.0.00.01.0005", "1.02.0.00.0.00.01.0005"),
        (normalise_region_code, "53", "53"),
        (normalise_region_code, "53.71", "53.71"),
        (normalise_region_code, "5371", "53.71"),
        (normalise_region_code, "53.1", "53.01"),
        (normalise_region_code, "53-01", "53.01"),
    ],
)
def test_normalises_legacy_forms(normalise: Callable[[str], str], raw: str, expected: str) -> None:
    assert normalise(raw) == expected


def test_split_mak() -> None:
    assert split_mak("1.03.10.2.01.0029.5.2.04.01.01.0003.") == (
        "1.03.10.2.01.0029",
        "5.2.04.01.01.0003",
    )
    assert split_mak(" 1.3.10.2.1.29. 5.2.4.1.1.3 ") == ("1.03.10.2.01.0029", "5.2.04.01.01.0003")


def test_custom_separators_and_prefixes() -> None:
    assert normalise_code("1|3|10", (1, 2, 2), separators="|") == "1.03.10"
    assert normalise_code("1.3", (1, 2, 2), allow_fewer=True) == "1.03"
    assert normalise_code("1", (1, 2, 2), allow_fewer=True) == "1"
    # Without space among the separators, whitespace may surround separators but not split.
    assert normalise_code("1 . 3", (1, 2), separators=".") == "1.03"
    with pytest.raises(CodeError, match="not all digits"):
        normalise_code("1 3.10.05", (1, 2, 2), separators=".")


def test_canonical_patterns() -> None:
    assert canonical_pattern((2, 2), True).fullmatch("53")
    assert canonical_pattern((2, 2), True).fullmatch("53.71")
    assert not canonical_pattern((2, 2), True).fullmatch("53.")
    assert is_canonical_sub_activity_code("1.03.10.1.01.0031")
    assert not is_canonical_sub_activity_code("1.3.10.1.1.31")
    assert is_canonical_account_code("5.1.02.01.01.0024")
    assert is_canonical_opd_code("1.03.0.00.0.00.01.0000")
    assert is_canonical_region_code("53")
    assert is_canonical_region_code("53.71")
    assert not is_canonical_region_code("5371")


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("1.003.10.1.01.0031", "segment 2 '003' longer than 2"),
        ("1.03.10.1.01.00031", "segment 6 '00031' longer than 4"),
        ("1.03.10.1.01", "5 segment(s) instead of 6"),
        ("1.03.10.1.01.0031.5", "7 segment(s) instead of 6"),
        ("1.03.1O.1.01.0031", "segment 3 '1O' that is not all digits"),
        ("X.XX.10.1.01.0031", "segment 1 'X' that is not all digits"),
        ("1..03.10.1.01.0031", "empty segment 2"),
        (".1.03.10.1.01.0031", "empty segment 1"),
        ("12345", "5 digits without separators; an undotted code has 12"),
        ("", "is empty"),
        ("   ", "is empty"),
    ],
)
def test_sub_activity_errors_name_input_and_problem(raw: str, problem: str) -> None:
    with pytest.raises(CodeError, match=re.escape(problem)) as caught:
        normalise_sub_activity_code(raw)
    assert repr(raw) in str(caught.value)
    assert "U.BB.PP.L.KK.SSSS" in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("537", "3 digits without separators; an undotted code has 2 or 4"),
        ("53.71.01", "3 segment(s) instead of 1 to 2"),
        ("53.711", "segment 2 '711' longer than 2"),
        ("NTT", "not all digits"),
    ],
)
def test_region_errors(raw: str, problem: str) -> None:
    with pytest.raises(CodeError, match=re.escape(problem)):
        normalise_region_code(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "1.03.10.2.01.0029.5.2.04.01.01.",  # account code cut short
        "1.03.10.2.01.0029.",  # no account code
        "1.03.10.2.01.5.2.04.01.01.0003.",  # sub-activity cut short
        "1.03.10.2.01.0029.5.2.04.01.01.0003.7.",
    ],
)
def test_split_mak_refuses_other_than_six_plus_six(raw: str) -> None:
    with pytest.raises(CodeError, match=re.escape(repr(raw))):
        split_mak(raw)


def test_code_error_is_a_value_error() -> None:
    assert issubclass(CodeError, ValueError)
    with pytest.raises(ValueError, match="widths"):
        normalise_code("1", ())


# --- properties -----------------------------------------------------------------------------

widths_strategy = st.sampled_from(sorted(NORMALISERS))


@property_test
@given(st.data(), widths_strategy)
def test_legacy_renderings_normalise_to_canonical(
    data: st.DataObject, widths: tuple[int, ...]
) -> None:
    values = data.draw(segment_values(widths))
    raw = data.draw(legacy_rendering(values, widths))
    expected = canonical(values, widths)
    assert NORMALISERS[widths](raw) == expected
    assert normalise_code(raw, widths) == expected


@property_test
@given(st.data(), widths_strategy)
def test_canonical_codes_are_fixed_points(data: st.DataObject, widths: tuple[int, ...]) -> None:
    code = canonical(data.draw(segment_values(widths)), widths)
    assert is_canonical_code(code, widths)
    assert NORMALISERS[widths](code) == code
    assert NORMALISERS[widths](NORMALISERS[widths](code)) == code


@property_test
@given(st.data(), widths_strategy)
def test_undotted_digits_split_by_widths(data: st.DataObject, widths: tuple[int, ...]) -> None:
    code = canonical(data.draw(segment_values(widths)), widths)
    digits = code.replace(".", "")
    cut = data.draw(st.integers(0, len(digits)))
    assert NORMALISERS[widths](digits) == code
    assert NORMALISERS[widths](f"{digits[:cut]} {digits[cut:]}") == code


@property_test
@given(st.data(), widths_strategy)
def test_too_long_segment_is_refused(data: st.DataObject, widths: tuple[int, ...]) -> None:
    values = data.draw(segment_values(widths))
    position = data.draw(st.integers(0, len(widths) - 1))
    values[position] = data.draw(st.integers(10 ** widths[position], 10 ** (widths[position] + 2)))
    raw = ".".join(map(str, values))
    with pytest.raises(CodeError, match=f"segment {position + 1} .* longer than"):
        NORMALISERS[widths](raw)


@property_test
@given(st.integers(11, 99), st.none() | st.integers(1, 99), st.sampled_from(SEPARATORS))
def test_region_codes(province: int, regency: int | None, separator: str) -> None:
    if regency is None:
        assert normalise_region_code(str(province)) == str(province)
        return
    expected = f"{province}.{regency:02d}"
    assert normalise_region_code(f"{province}{separator}{regency}") == expected
    assert normalise_region_code(f"{province}{regency:02d}") == expected
    assert normalise_region_code(expected) == expected


@property_test
@given(st.data())
def test_split_mak_round_trip(data: st.DataObject) -> None:
    sub = data.draw(segment_values(SUB_ACTIVITY_WIDTHS))
    account = data.draw(segment_values(ACCOUNT_WIDTHS))
    raw = (
        data.draw(legacy_rendering(sub, SUB_ACTIVITY_WIDTHS)).rstrip(". \t")
        + data.draw(st.sampled_from([".", " . ", "-"]))
        + data.draw(legacy_rendering(account, ACCOUNT_WIDTHS))
    )
    assert split_mak(raw) == (
        canonical(sub, SUB_ACTIVITY_WIDTHS),
        canonical(account, ACCOUNT_WIDTHS),
    )
