"""Mapping files: every kind of mistake is reported with its file, line and reason, and a
valid mapping turns legacy rows into canonical records."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from adapters.check import check_source
from adapters.field_rules import FieldRule, RecordError, convert
from adapters.mapping import MappingError, load_config, load_mapping
from adapters.records import FieldSpec
from hub.sync.coercion import coerce, coercer
from hub.sync.types import ColumnType
from tests.conftest import Server

VALID = """\
[source]
id = "bpkad-5301"
name = "BPKAD Kabupaten Kupang"
kind = "sqlite"
url = "sqlite:///keuangan.db"
region = "53.01"

[[entity]]
name = "budget_line"
table = "dpa_rinci"
watermark = "tgl_update"

[entity.fields]
region_code = { const = "53.01" }
fiscal_year = "tahun"
sub_activity_code = { column = "kd_sub_keg" }
account_code = { column = "kd_rek", widths = [1, 1, 2, 2, 2, 4] }
account_name = "nm_rek"
amount = { column = "nilai", number = "id" }
dpa_number = { concat = [{ const = "DPA/" }, "no_dpa"] }
"""


def write(tmp_path: Path, text: str, name: str = "m.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> list[tuple[int | None, str]]:
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    return [(p.line, p.reason) for p in caught.value.problems]


def line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


@pytest.mark.parametrize(
    ("old", "new", "marker", "reason"),
    [
        ('kind = "sqlite"', 'kind = "oracle"', "kind =", "kind must be one of"),
        ('id = "bpkad-5301"', 'id = "bpkad 5301!"', "id =", "needs an id"),
        ('region = "53.01"', 'region = "53.01"\ncolour = "red"', "colour", "unknown key 'colour'"),
        ('name = "budget_line"', 'name = "budget_lines"', '"budget_lines"', "unknown entity"),
        (
            'table = "dpa_rinci"',
            'table = "dpa_rinci"\nsheets = "x"',
            "sheets",
            "unknown key 'sheets'",
        ),
        ('account_name = "nm_rek"', 'account_nama = "nm_rek"', "account_nama", "has no field"),
        ('fiscal_year = "tahun"\n', "", "[entity.fields]", "'fiscal_year' is required"),
        (
            'amount = { column = "nilai", number = "id" }',
            'amount = { column = "nilai", const = 1 }',
            "amount =",
            "exactly one of column, cell, const or concat",
        ),
        (
            'amount = { column = "nilai", number = "id" }',
            'amount = { column = "nilai", number = "de" }',
            "amount =",
            'number must be "id" or "en"',
        ),
        (
            'amount = { column = "nilai", number = "id" }',
            'amount = { column = "nilai", rounding = 2 }',
            "amount =",
            "unknown option(s) rounding",
        ),
        ("widths = [1, 1, 2, 2, 2, 4]", "widths = [1, 0]", "account_code =", "widths must be"),
        (
            'account_name = "nm_rek"',
            'account_name = { column = "nm_rek", widths = [2] }',
            "account_name =",
            "widths apply to code fields only",
        ),
        (
            'dpa_number = { concat = [{ const = "DPA/" }, "no_dpa"] }',
            'dpa_number = { concat = [{ literal = "DPA/" }] }',
            "dpa_number",
            "concat part",
        ),
        (
            'account_name = "nm_rek"',
            'account_name = { cell = "b-3" }',
            "account_name =",
            'cell must look like "B3"',
        ),
        (
            'account_name = "nm_rek"',
            'account_name = { column = "nm_rek", date = "dd-mm" }',
            "account_name =",
            "date must be",
        ),
        ('account_name = "nm_rek"', "account_name = 5", "account_name =", "give a column name"),
        (
            'url = "sqlite:///keuangan.db"',
            'url = "${RANTAI_TEST_UNSET_VARIABLE}"',
            "url =",
            "RANTAI_TEST_UNSET_VARIABLE is not set",
        ),
    ],
)
def test_each_mistake_is_reported_with_its_line(
    tmp_path: Path, old: str, new: str, marker: str, reason: str
) -> None:
    assert old in VALID
    text = VALID.replace(old, new)
    found = problems_of(write(tmp_path, text))
    assert any(reason in r for _, r in found), found
    [line] = [line for line, r in found if reason in r]
    assert line == line_of(text, marker)


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    text = VALID.replace('fiscal_year = "tahun"', 'fiscal_year = "tahun')
    [(line, reason)] = problems_of(write(tmp_path, text))
    assert line == line_of(text, "fiscal_year")
    assert reason.startswith("not valid TOML")


def test_table_and_query_together_is_refused(tmp_path: Path) -> None:
    text = VALID.replace('table = "dpa_rinci"', 'table = "dpa_rinci"\nquery = "SELECT 1"')
    found = problems_of(write(tmp_path, text))
    assert (line_of(text, "[[entity]]"), "budget_line: give exactly one of table or query") in found


def test_sql_source_without_url_and_missing_source_table(tmp_path: Path) -> None:
    found = problems_of(write(tmp_path, VALID.replace('url = "sqlite:///keuangan.db"\n', "")))
    assert (1, "a sqlite source needs a url") in found
    assert problems_of(write(tmp_path, "[[entity]]\nname = 'opd'\n")) == [
        (1, "missing [source] table")
    ]


def test_problems_are_printed_as_file_line_reason(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace('kind = "sqlite"', 'kind = "oracle"'))
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    assert str(caught.value.problems[0]).startswith(f"{path}:4: kind must be one of")


def test_valid_mapping_makes_canonical_records(tmp_path: Path) -> None:
    mapping = load_mapping(write(tmp_path, VALID))
    [entity] = mapping.entities
    assert mapping.id == "bpkad-5301"
    assert entity.query.columns == (
        "kd_rek",
        "kd_sub_keg",
        "nilai",
        "nm_rek",
        "no_dpa",
        "tahun",
        "tgl_update",
    )
    record = entity.record(
        {
            "tahun": "2025",
            "kd_sub_keg": "1.3.10.2.1.31",
            "kd_rek": "5.2.4.1.1.3",
            "nm_rek": " Belanja Modal Jalan ",
            "nilai": "1.250.000,00",
            "no_dpa": "001/2025",
        }
    )
    assert record == {
        "region_code": "53.01",
        "fiscal_year": 2025,
        "sub_activity_code": "1.03.10.2.01.0031",
        "account_code": "5.2.04.01.01.0003",
        "account_name": "Belanja Modal Jalan",
        "amount": Decimal("1250000.00"),
        "dpa_number": "DPA/001/2025",
    }
    key_row = {"tahun": 2025, "kd_sub_keg": "1.3.10.2.1.31", "kd_rek": "5.2.4.1.1.3"}
    assert entity.source_key(key_row) == "2025/1.3.10.2.1.31/5.2.4.1.1.3"


def test_bad_value_names_the_field(tmp_path: Path) -> None:
    [entity] = load_mapping(write(tmp_path, VALID)).entities
    row = {"tahun": "2025", "kd_sub_keg": "1.3.10.2.1.31", "kd_rek": "5.2.4.1.1.3", "nilai": "abc"}
    with pytest.raises(RecordError, match=r"^amount: "):
        entity.record(row)
    with pytest.raises(RecordError, match="no value for amount"):
        entity.record({**row, "nilai": None})


def legacy_sqlite(tmp_path: Path, *, with_watermark: bool = True) -> None:
    conn = sqlite3.connect(tmp_path / "keuangan.db")
    extra = ", tgl_update TEXT" if with_watermark else ""
    conn.execute(
        f"CREATE TABLE dpa_rinci (tahun INTEGER, kd_sub_keg TEXT, kd_rek TEXT, nm_rek TEXT,"
        f" nilai TEXT, no_dpa TEXT{extra})"
    )
    values = (2025, "1.3.10.2.1.31", "5.2.4.1.1.3", "Belanja Modal Jalan", "1.250.000,00", "001")
    if with_watermark:
        values = (*values, "2025-03-01")
    conn.execute(f"INSERT INTO dpa_rinci VALUES ({', '.join('?' * len(values))})", values)
    conn.commit()
    conn.close()


async def test_check_passes_a_valid_mapping_against_its_source(tmp_path: Path) -> None:
    legacy_sqlite(tmp_path)
    assert await check_source(load_mapping(write(tmp_path, VALID))) == []


async def test_check_reports_missing_table_column_and_watermark(tmp_path: Path) -> None:
    legacy_sqlite(tmp_path, with_watermark=False)
    text = VALID.replace('account_name = "nm_rek"', 'account_name = "nama_rekening"')
    found = [(p.line, p.reason) for p in await check_source(load_mapping(write(tmp_path, text)))]
    assert (
        line_of(text, "account_name"),
        "budget_line.account_name: dpa_rinci has no column 'nama_rekening'",
    ) in found
    assert any(line == line_of(text, "watermark") and "tgl_update" in r for line, r in found)
    text = VALID.replace('table = "dpa_rinci"', 'table = "dpa"')
    found = [(p.line, p.reason) for p in await check_source(load_mapping(write(tmp_path, text)))]
    assert len(found) == 1
    assert found[0][0] == line_of(text, 'table = "dpa"')
    assert "dpa" in found[0][1]


async def test_check_reports_rows_that_do_not_convert(tmp_path: Path) -> None:
    legacy_sqlite(tmp_path)
    conn = sqlite3.connect(tmp_path / "keuangan.db")
    conn.execute("UPDATE dpa_rinci SET kd_sub_keg = '1.3.10.2.1.31000'")
    conn.commit()
    conn.close()
    found = await check_source(load_mapping(write(tmp_path, VALID)))
    assert [p.line for p in found] == [line_of(VALID, "sub_activity_code")]


async def test_check_reports_an_unreachable_source_at_its_url(tmp_path: Path) -> None:
    text = VALID.replace('kind = "sqlite"', 'kind = "postgresql"').replace(
        'url = "sqlite:///keuangan.db"', 'url = "postgresql://postgres@127.0.0.1:1/none"'
    )
    [problem] = await check_source(load_mapping(write(tmp_path, text)))
    assert problem.line == line_of(text, "url =")
    assert "cannot open source bpkad-5301" in problem.reason


def test_config_lists_mappings_and_refuses_duplicates(tmp_path: Path) -> None:
    (tmp_path / "mappings").mkdir()
    write(tmp_path / "mappings", VALID, "a.toml")
    write(tmp_path / "mappings", VALID, "b.toml")
    config = write(
        tmp_path,
        '[[source]]\nmapping = "mappings/a.toml"\n\n[[source]]\nmapping = "mappings/b.toml"\n'
        '\n[[source]]\nmapping = "mappings/none-*.toml"\n',
        "rantai.toml",
    )
    with pytest.raises(MappingError) as caught:
        load_config(config)
    reasons = {(p.file.name, p.line, p.reason.split(" is ")[0]) for p in caught.value.problems}
    assert ("rantai.toml", 8, "no mapping file matches 'mappings/none-*.toml'") in {
        (p.file.name, p.line, p.reason) for p in caught.value.problems
    }
    assert ("b.toml", 2, "source id 'bpkad-5301'") in reasons


def run_cli(*args: str, data_dir: Path, store: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "RANTAI_CONFIG"}
    env["RANTAI_DATABASE_URL"] = store  # a database of the test's own, never the server's
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


async def test_sources_check_command_exit_codes_and_lines(tmp_path: Path, server: Server) -> None:
    store = await server.create_database("rantai_sources_cli")
    (tmp_path / "mappings").mkdir()
    legacy_sqlite(tmp_path / "mappings")
    write(tmp_path / "mappings", VALID, "bpkad.toml")
    write(tmp_path, '[[source]]\nmapping = "mappings/*.toml"\n', "rantai.toml")
    ok = run_cli("sources", "check", data_dir=tmp_path, store=store)
    assert ok.returncode == 0, ok.stderr
    # Its DPA line's sub kegiatan is planned nowhere: kept unlinked, a warning.
    assert ok.stdout.strip() == "ok  bpkad-5301 (1 warning)"
    assert "warning: budget_line: 1 of 1 sampled rows would stay unlinked" in ok.stderr
    listed = await asyncio.to_thread(run_cli, "sources", data_dir=tmp_path, store=store)
    assert listed.returncode == 0
    assert "bpkad-5301" in listed.stdout
    assert "NEVER_SYNCED" in listed.stdout  # configured, not synced yet
    bad = VALID.replace('account_name = "nm_rek"', 'account_name = "nama_rekening"')
    mapping = write(tmp_path / "mappings", bad, "bpkad.toml")
    failed = run_cli("sources", "check", data_dir=tmp_path, store=store)
    assert failed.returncode == 1
    line = line_of(bad, "account_name")
    assert f"{mapping}:{line}: budget_line.account_name: dpa_rinci has no column" in failed.stderr
    invalid = write(
        tmp_path / "mappings", bad.replace('kind = "sqlite"', 'kind = "oracle"'), "bpkad.toml"
    )
    refused = run_cli("sources", "check", data_dir=tmp_path, store=store)
    assert refused.returncode == 1
    assert f"{invalid}:4: kind must be one of" in refused.stderr


# -- the specialised paths give what the general ones give -----------------------------------

DRIVER_VALUES = [
    Decimal("1.005"),
    Decimal("-0.00"),
    Decimal("-0"),
    Decimal("0"),
    Decimal("12345678901234.5678"),
    Decimal("-3.14159"),
    Decimal("1E+3"),
    Decimal("1E+30"),
    Decimal("NaN"),
    0,
    5,
    -7,
    10**30,
    True,
    1.5,
    "1.250.000,50",
    "  42 ",
    "",
    None,
    date(2025, 1, 2),
    datetime(2025, 1, 2, 3, 4),
]


def _outcome(call: Any, *args: Any) -> tuple[str, Any]:
    try:
        value = call(*args)
    except Exception as exc:  # the kind of error, not its text
        return ("error", type(exc).__name__)
    return (type(value).__name__, str(value))


@pytest.mark.parametrize("kind", ["money", "decimal", "percent", "int", "date", "text"])
def test_a_field_rule_reads_as_value_and_convert_always_did(kind: str) -> None:
    """FieldRule.read (specialised once per rule, with fast paths for what drivers return)
    against the plain steps: strip, default, map, then `convert`."""
    rule = FieldRule(FieldSpec("f", kind), None, column="c")  # type: ignore[arg-type]

    def plain(raw: Any) -> Any:
        if isinstance(raw, str):
            raw = raw.strip()
        if raw is None or raw == "":
            return None
        try:
            return convert(raw, kind, rule)
        except (ValueError, TypeError, ArithmeticError) as exc:
            raise RecordError(f"f: {exc}") from None

    for raw in DRIVER_VALUES:
        for _ in range(2):  # the second read of a text code comes from the rule's memory
            assert _outcome(rule.read, {"c": raw}) == _outcome(plain, raw), raw


@pytest.mark.parametrize("pg", ["numeric", "int8", "int4", "text", "date", "bool"])
def test_a_store_column_coerces_as_coerce_always_did(pg: str) -> None:
    ct = ColumnType(pg, Decimal("0.01") if pg == "numeric" else None, 5 if pg == "text" else None)
    fast = coercer("c", ct)
    for value in [*DRIVER_VALUES, "abcdef", " abc ", Decimal("123456789012345678901234567")]:
        assert _outcome(fast, value) == _outcome(coerce, value, "c", ct), value
