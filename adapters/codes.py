"""Government code normalisation: legacy spellings to the canonical dotted, zero-padded form.

Legacy copies of SIPD/SiRUP data write codes with spaces (`1. 03 .10`), without zero padding
(`1.3.10.1.1.31`), with other separators (`1-03-10`, `1/03/10`, `1 03 10`) or with no
separators at all (`103101010031`). Every adapter normalises to the form of DOMAIN.md, e.g.
sub kegiatan `1.03.10.1.01.0031`, so that rows from different systems join on equal strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from itertools import accumulate

__all__ = [
    "ACCOUNT_WIDTHS",
    "ACTIVITY_WIDTHS",
    "MAK_WIDTHS",
    "OPD_WIDTHS",
    "PROGRAM_WIDTHS",
    "REGION_WIDTHS",
    "SUB_ACTIVITY_WIDTHS",
    "CodeError",
    "canonical_pattern",
    "is_canonical_account_code",
    "is_canonical_activity_code",
    "is_canonical_code",
    "is_canonical_opd_code",
    "is_canonical_program_code",
    "is_canonical_region_code",
    "is_canonical_sub_activity_code",
    "normalise_account_code",
    "normalise_activity_code",
    "normalise_code",
    "normalise_opd_code",
    "normalise_program_code",
    "normalise_region_code",
    "normalise_sub_activity_code",
    "split_mak",
]

PROGRAM_WIDTHS: tuple[int, ...] = (1, 2, 2)  # U.BB.PP
ACTIVITY_WIDTHS: tuple[int, ...] = (1, 2, 2, 1, 2)  # U.BB.PP.L.KK
SUB_ACTIVITY_WIDTHS: tuple[int, ...] = (1, 2, 2, 1, 2, 4)  # U.BB.PP.L.KK.SSSS
ACCOUNT_WIDTHS: tuple[int, ...] = (1, 1, 2, 2, 2, 4)  # A.K.JJ.OO.RR.SSSS
OPD_WIDTHS: tuple[int, ...] = (1, 2, 1, 2, 1, 2, 2, 4)  # U1.B1.U2.B2.U3.B3.NN.SSSS
REGION_WIDTHS: tuple[int, ...] = (2, 2)  # province, then optionally regency/city
MAK_WIDTHS: tuple[int, ...] = SUB_ACTIVITY_WIDTHS + ACCOUNT_WIDTHS

_DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() would accept "²" or Arabic digits


class CodeError(ValueError):
    """A code that cannot be read as the expected dotted, zero-padded form."""


def normalise_code(
    raw: str,
    widths: Sequence[int],
    *,
    separators: str = ".-/ ",
    allow_fewer: bool = False,
) -> str:
    """Normalise a legacy code to dotted, zero-padded segments of the given widths.

    Segments may be separated by any character of `separators` (whitespace around a
    separator is ignored; a space in `separators` makes any whitespace a separator) and may
    lack their leading zeros. One trailing separator is tolerated (a RUP `mak` ends with a
    dot). A string of digits without separators is split by the widths when its length is
    exactly `sum(widths)` (or, with `allow_fewer`, the sum of a prefix of the widths).
    With `allow_fewer`, a code of fewer segments than `widths` is a prefix (a region code
    `53` or `53.71`). Raises CodeError naming the input and what is wrong.
    """
    return _normalise(raw, widths, separators, allow_fewer, "code", _form(widths))


def normalise_sub_activity_code(raw: str) -> str:
    """Normalise a sub kegiatan code to `U.BB.PP.L.KK.SSSS` (`1.03.10.1.01.0031`)."""
    return _normalise(
        raw, SUB_ACTIVITY_WIDTHS, ".-/ ", False, "sub-activity code", "U.BB.PP.L.KK.SSSS"
    )


def normalise_activity_code(raw: str) -> str:
    """Normalise a kegiatan code to `U.BB.PP.L.KK` (`1.03.10.1.01`)."""
    return _normalise(raw, ACTIVITY_WIDTHS, ".-/ ", False, "activity code", "U.BB.PP.L.KK")


def normalise_program_code(raw: str) -> str:
    """Normalise a program code to `U.BB.PP` (`1.03.10`)."""
    return _normalise(raw, PROGRAM_WIDTHS, ".-/ ", False, "program code", "U.BB.PP")


def normalise_account_code(raw: str) -> str:
    """Normalise a kode rekening to `A.K.JJ.OO.RR.SSSS` (`5.2.04.01.01.0003`)."""
    return _normalise(raw, ACCOUNT_WIDTHS, ".-/ ", False, "account code", "A.K.JJ.OO.RR.SSSS")


def normalise_opd_code(raw: str) -> str:
    """Normalise an OPD code (kd_satker_str) to `U1.B1.U2.B2.U3.B3.NN.SSSS`."""
    return _normalise(raw, OPD_WIDTHS, ".-/ ", False, "OPD code", "U1.B1.U2.B2.U3.B3.NN.SSSS")


def normalise_region_code(raw: str) -> str:
    """Normalise a Kemendagri region code: a province `53` or a regency/city `53.71`.

    `5371` becomes `53.71` and `53.1` becomes `53.01`.
    """
    return _normalise(raw, REGION_WIDTHS, ".-/ ", True, "region code", "PP[.KK]")


def split_mak(raw: str) -> tuple[str, str]:
    """Split a RUP budget row's `mak` into (sub-activity code, account code), both normalised.

    `1.03.10.2.01.0029.5.2.04.01.01.0003.` → (`1.03.10.2.01.0029`, `5.2.04.01.01.0003`).
    Raises CodeError when the input is not 6 + 6 segments.
    """
    canonical = _normalise(
        raw, MAK_WIDTHS, ".-/ ", False, "mak", "U.BB.PP.L.KK.SSSS.A.K.JJ.OO.RR.SSSS."
    )
    segments = canonical.split(".")
    cut = len(SUB_ACTIVITY_WIDTHS)
    return ".".join(segments[:cut]), ".".join(segments[cut:])


@lru_cache(maxsize=64)
def canonical_pattern(widths: tuple[int, ...], allow_fewer: bool = False) -> re.Pattern[str]:
    """The regular expression a canonical code of these widths matches in full."""
    _check_widths(widths)
    parts = [rf"[0-9]{{{width}}}" for width in widths]
    if not allow_fewer:
        return re.compile(r"\.".join(parts))
    # Nest the optional tails so that only prefixes match: 53, 53.71, never 53..71.
    pattern = ""
    for part in reversed(parts[1:]):
        pattern = rf"(?:\.{part}{pattern})?"
    return re.compile(parts[0] + pattern)


def is_canonical_code(code: str, widths: Sequence[int], *, allow_fewer: bool = False) -> bool:
    """Whether `code` is already in the canonical form for these widths."""
    return canonical_pattern(tuple(widths), allow_fewer).fullmatch(code) is not None


def is_canonical_sub_activity_code(code: str) -> bool:
    """Whether `code` is a canonical `U.BB.PP.L.KK.SSSS`."""
    return is_canonical_code(code, SUB_ACTIVITY_WIDTHS)


def is_canonical_activity_code(code: str) -> bool:
    """Whether `code` is a canonical `U.BB.PP.L.KK`."""
    return is_canonical_code(code, ACTIVITY_WIDTHS)


def is_canonical_program_code(code: str) -> bool:
    """Whether `code` is a canonical `U.BB.PP`."""
    return is_canonical_code(code, PROGRAM_WIDTHS)


def is_canonical_account_code(code: str) -> bool:
    """Whether `code` is a canonical `A.K.JJ.OO.RR.SSSS`."""
    return is_canonical_code(code, ACCOUNT_WIDTHS)


def is_canonical_opd_code(code: str) -> bool:
    """Whether `code` is a canonical `U1.B1.U2.B2.U3.B3.NN.SSSS`."""
    return is_canonical_code(code, OPD_WIDTHS)


def is_canonical_region_code(code: str) -> bool:
    """Whether `code` is a canonical `PP` or `PP.KK` region code."""
    return is_canonical_code(code, REGION_WIDTHS, allow_fewer=True)


# --- internals ------------------------------------------------------------------------------


def _form(widths: Sequence[int]) -> str:
    return ".".join("N" * width for width in widths)


def _check_widths(widths: Sequence[int]) -> None:
    # A programming error, not bad data: plain ValueError rather than CodeError.
    if not widths or any(width < 1 for width in widths):
        raise ValueError(f"widths must be one or more positive integers, not {tuple(widths)!r}")


def _normalise(
    raw: str,
    widths: Sequence[int],
    separators: str,
    allow_fewer: bool,
    label: str,
    form: str,
) -> str:
    if isinstance(raw, str):
        # The same few thousand codes come back on every row of a sync: remember them.
        return _normalise_cached(raw, tuple(widths), separators, allow_fewer, label, form)
    return _normalise_text(raw, widths, separators, allow_fewer, label, form)


@lru_cache(maxsize=1 << 16)
def _normalise_cached(
    raw: str,
    widths: tuple[int, ...],
    separators: str,
    allow_fewer: bool,
    label: str,
    form: str,
) -> str:
    return _normalise_text(raw, widths, separators, allow_fewer, label, form)


def _normalise_text(
    raw: str,
    widths: Sequence[int],
    separators: str,
    allow_fewer: bool,
    label: str,
    form: str,
) -> str:
    _check_widths(widths)
    if not isinstance(raw, str):
        raise CodeError(f"{label} {raw!r} is not text (form {form})")
    text = raw.strip()
    if not text:
        raise CodeError(f"{label} {raw!r} is empty (form {form})")
    hard = "".join(sorted({c for c in separators if not c.isspace()}))
    spaces = any(c.isspace() for c in separators)
    hard_class = f"[{re.escape(hard)}]" if hard else None
    if hard_class is not None:
        text = re.sub(rf"\s*{hard_class}$", "", text)  # the trailing dot of a mak
    alternatives = [rf"\s*{hard_class}\s*"] if hard_class is not None else []
    if spaces:
        alternatives.append(r"\s+")
    segments = re.split("|".join(alternatives), text) if alternatives else [text]

    def fail(problem: str) -> CodeError:
        return CodeError(f"{label} {raw!r} {problem} (form {form})")

    try:
        return _from_segments(segments, widths, allow_fewer, fail)
    except CodeError:
        # "103101010031" or "10310101 0031": digits whose only grouping is whitespace are
        # an undotted code when their count fits the widths exactly.
        has_hard = hard_class is not None and re.search(hard_class, text) is not None
        digits = "".join(segments)
        if not has_hard and _DIGITS.fullmatch(digits):
            totals = list(accumulate(widths))
            if len(digits) == totals[-1] or (allow_fewer and len(digits) in totals):
                return _from_digits(digits, widths)
            if len(segments) == 1:
                lengths = " or ".join(map(str, totals)) if allow_fewer else str(totals[-1])
                raise fail(
                    f"has {len(digits)} digits without separators; an undotted code has {lengths}"
                ) from None
        raise


def _from_segments(
    segments: Sequence[str],
    widths: Sequence[int],
    allow_fewer: bool,
    fail: Callable[[str], CodeError],
) -> str:
    for position, segment in enumerate(segments, start=1):
        if not segment:
            raise fail(f"has an empty segment {position}")
    count, expected = len(segments), len(widths)
    if count > expected or (count < expected and not allow_fewer):
        wanted = f"1 to {expected}" if allow_fewer else str(expected)
        raise fail(f"has {count} segment(s) instead of {wanted}")
    padded = []
    for position, (segment, width) in enumerate(zip(segments, widths, strict=False), start=1):
        if not _DIGITS.fullmatch(segment):
            raise fail(f"has segment {position} {segment!r} that is not all digits")
        if len(segment) > width:
            raise fail(f"has segment {position} {segment!r} longer than {width} digit(s)")
        padded.append(segment.zfill(width))
    return ".".join(padded)


def _from_digits(digits: str, widths: Sequence[int]) -> str:
    segments = []
    start = 0
    for width in widths:
        if start >= len(digits):
            break
        segments.append(digits[start : start + width])
        start += width
    return ".".join(segments)
