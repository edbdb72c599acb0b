"""The mapping language's transforms (docs/mappings.md): segments of a code, a regular
expression's group, constants kept verbatim in `concat`, strict `map`, closed vocabularies,
a source's Pemda as the default region; and each misuse reported as `file:line: reason`."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from adapters.field_rules import RecordError
from adapters.mapping import EntityMapping, MappingError, load_mapping

HEAD = """\
[source]
id = "keuangan-5318"
name = "Keuangan Sumba Barat Daya"
kind = "sqlite"
url = "sqlite:///keuangan.db"
region = "53.18"
"""


def mapping(tmp_path: Path, entity: str, table: str, fields: str) -> EntityMapping:
    path = tmp_path / "m.toml"
    path.write_text(
        f'{HEAD}\n[[entity]]\nname = "{entity}"\ntable = "{table}"\n\n[entity.fields]\n{fields}',
        encoding="utf-8",
    )
    return load_mapping(path).entities[0]


def problems(tmp_path: Path, entity: str, fields: str) -> list[str]:
    path = tmp_path / "m.toml"
    text = f'{HEAD}\n[[entity]]\nname = "{entity}"\ntable = "t"\n\n[entity.fields]\n{fields}'
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    return [str(p) for p in caught.value.problems]


PAYMENT = """\
fiscal_year = "tahun"
sp2d_number = "no_sp2d"
paid_on = "tgl"
amount = "nilai"
"""
ROW: dict[str, Any] = {
    "tahun": "2025",
    "no_sp2d": "00012/SP2D/LS/2025",
    "tgl": "17-08-2025",
    "nilai": "1.250.000,00",
}


def test_segments_keep_the_first_n_segments_of_a_code_written_with_spaces(
    tmp_path: Path,
) -> None:
    entity = mapping(
        tmp_path,
        "activity",
        "renja",
        'fiscal_year = "tahun"\ncode = { column = "kd_sub", segments = 5 }\n',
    )
    record = entity.record({"tahun": 2025, "kd_sub": " 1 3 10 2 1 31 "})
    assert record["code"] == "1.03.10.2.01"
    assert record["region_code"] == "53.18"  # the source's own Pemda: region_code left out
    assert record.get("name") is None  # named from the nomenclature by the sync


def test_segments_range_keeps_segments_first_to_last_counted_from_one(tmp_path: Path) -> None:
    entity = mapping(
        tmp_path,
        "payment",
        "sp2d",
        PAYMENT + 'payee_name = { column = "kd_sub", segments = [2, 3] }\n',
    )
    assert entity.record({**ROW, "kd_sub": "1.03.10.2.01.0031"})["payee_name"] == "03.10"


def test_segments_past_the_end_of_the_code_give_no_value(tmp_path: Path) -> None:
    entity = mapping(
        tmp_path,
        "payment",
        "sp2d",
        PAYMENT + 'payee_name = { column = "kd", segments = 5, default = "-" }\n',
    )
    assert entity.record({**ROW, "kd": "1.03.10"})["payee_name"] == "-"


def test_pattern_extracts_the_payment_kind_from_the_sp2d_number(tmp_path: Path) -> None:
    entity = mapping(
        tmp_path,
        "payment",
        "sp2d",
        PAYMENT + "kind = { column = \"no_sp2d\", pattern = '^\\d+/SP2D/(LS|GU|UP|TU)/' }\n",
    )
    assert entity.record(ROW)["kind"] == "LS"
    assert entity.record({**ROW, "no_sp2d": "00013/SP2D/GU/2025"})["kind"] == "GU"
    # No match: no value (the field is optional).
    assert entity.record({**ROW, "no_sp2d": "SP2D-13"})["kind"] is None


def test_pattern_without_a_group_keeps_the_whole_match(tmp_path: Path) -> None:
    entity = mapping(
        tmp_path,
        "payment",
        "sp2d",
        PAYMENT + "contract_number = { column = \"ket\", pattern = '\\d+/SPK/\\d{4}' }\n",
    )
    record = entity.record({**ROW, "ket": "Termin II kontrak 027/SPK/2025 lunas"})
    assert record["contract_number"] == "027/SPK/2025"


def test_concat_keeps_constants_verbatim_and_strips_columns(tmp_path: Path) -> None:
    entity = mapping(
        tmp_path,
        "payment",
        "sp2d",
        PAYMENT
        + 'payee_name = { concat = [{ const = "Kegiatan " }, "kd", { const = " — " }, "nm"] }\n',
    )
    record = entity.record({**ROW, "kd": "  1 3 ", "nm": " Jalan  "})
    assert record["payee_name"] == "Kegiatan 1 3 — Jalan"


def test_concat_parts_take_segments_and_pattern(tmp_path: Path) -> None:
    entity = mapping(
        tmp_path,
        "progress_report",
        "monev",
        'fiscal_year = "tahun"\nsub_activity_code = "kd"\nphysical_percent = "f"\n'
        'financial_percent = "k"\n'
        'period = { concat = [{ column = "tgl", pattern = "(\\\\d{4})$" }, { const = "-Q" },'
        ' "tw"] }\n',
    )
    record = entity.record(
        {
            "tahun": "2025",
            "kd": "1 3 10 2 1 31",
            "f": "45,5",
            "k": "40",
            "tgl": "30-06-2025",
            "tw": 2,
        }
    )
    assert record["period"] == "2025-Q2"
    assert record["physical_percent"] == Decimal("45.5")


def test_strict_map_refuses_a_value_it_does_not_list(tmp_path: Path) -> None:
    entity = mapping(
        tmp_path,
        "payment",
        "sp2d",
        PAYMENT
        + 'payee_name = { column = "jenis", map = { "1" = "Pihak ketiga" }, strict = true }\n',
    )
    assert entity.record({**ROW, "jenis": "1"})["payee_name"] == "Pihak ketiga"
    with pytest.raises(RecordError, match="'2' is not one of the values `map` lists"):
        entity.record({**ROW, "jenis": "2"})


def test_a_map_without_strict_keeps_unmapped_values_outside_a_closed_vocabulary(
    tmp_path: Path,
) -> None:
    entity = mapping(
        tmp_path,
        "payment",
        "sp2d",
        PAYMENT + 'payee_name = { column = "jenis", map = { "1" = "Pihak ketiga" } }\n',
    )
    assert entity.record({**ROW, "jenis": "Bendahara"})["payee_name"] == "Bendahara"


@pytest.mark.parametrize(
    ("entity", "fields", "row", "message"),
    [
        (
            "region",
            'code = "kode"\nname = "nama"\nlevel = { column = "tingkat", map = { Provinsi = '
            '"PROVINCE", Kabupaten = "REGENCY" } }\n',
            {"kode": "53.71", "nama": "Kota Kupang", "tingkat": "Kota"},
            "level: 'Kota' is not one of PROVINCE, REGENCY, CITY",
        ),
        (
            "payment",
            PAYMENT + 'kind = "jenis"\n',
            {**ROW, "jenis": "LS-BJ"},
            "kind: 'LS-BJ' is not one of LS, UP, GU, TU",
        ),
        (
            "tender",
            'code = "kd"\nname = "nm"\nmethod = "mtd"\nstatus = "st"\n',
            {"kd": "1", "nm": "Jalan", "mtd": "Lelang Umum", "st": "Selesai"},
            "method: 'Lelang Umum' is not one of Tender, Tender Cepat",
        ),
    ],
)
def test_a_closed_vocabulary_refuses_a_value_outside_it(
    tmp_path: Path, entity: str, fields: str, row: dict[str, Any], message: str
) -> None:
    mapped = mapping(tmp_path, entity, "t", fields)
    with pytest.raises(RecordError, match=message.replace("(", r"\(")):
        mapped.record(row)


def test_a_closed_vocabulary_takes_its_words_in_any_case_as_written_there(
    tmp_path: Path,
) -> None:
    entity = mapping(tmp_path, "payment", "sp2d", PAYMENT + 'kind = "jenis"\n')
    assert entity.record({**ROW, "jenis": " ls "})["kind"] == "LS"
    tender = mapping(
        tmp_path, "tender", "t", 'code = "kd"\nname = "nm"\nmethod = "mtd"\nstatus = "st"\n'
    )
    record = tender.record({"kd": "1", "nm": "x", "mtd": "e-purchasing", "st": "Selesai"})
    assert record["method"] == "E-Purchasing"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ('payee_name = { column = "kd", segments = 0 }', "segments must be a count"),
        ('payee_name = { column = "kd", segments = [3, 2] }', "segments must be a count"),
        ('payee_name = { column = "kd", segments = "5" }', "segments must be a count"),
        ('payee_name = { column = "kd", pattern = "(LS" }', "is not a regular expression"),
        ('payee_name = { column = "kd", pattern = "(a)(b)" }', "has 2 groups"),
        ('payee_name = { column = "kd", strict = true }', "strict applies to map"),
        ('payee_name = { column = "kd", strict = "yes" }', "strict must be true or false"),
        ('payee_name = { const = "x", segments = 2 }', "segments and pattern cut a column"),
        ('payee_name = { concat = [{ column = "kd", width = 2 }] }', "unknown option(s) width"),
        ('kind = { column = "jenis", map = { "1" = "Langsung" } }', "which is not one of LS"),
    ],
)
def test_each_misuse_of_a_transform_is_reported_with_its_line(
    tmp_path: Path, fields: str, reason: str
) -> None:
    found = problems(tmp_path, "payment", PAYMENT + fields + "\n")
    line = (
        len(
            (
                HEAD + '\n[[entity]]\nname = "payment"\ntable = "t"\n\n[entity.fields]\n' + PAYMENT
            ).splitlines()
        )
        + 1
    )
    matching = [p for p in found if reason in p]
    assert matching, found
    assert matching[0].startswith(f"{tmp_path / 'm.toml'}:{line}: ")


def test_a_required_region_code_may_be_left_out_only_with_a_source_region(
    tmp_path: Path,
) -> None:
    path = tmp_path / "m.toml"
    path.write_text(
        HEAD.replace('region = "53.18"\n', "")
        + '\n[[entity]]\nname = "payment"\ntable = "sp2d"\n\n[entity.fields]\n'
        + PAYMENT,
        encoding="utf-8",
    )
    with pytest.raises(MappingError, match="'region_code' is required"):
        load_mapping(path)
