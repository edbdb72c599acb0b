"""The names legacy systems give to what the hub maps (DOMAIN.md: SIPD, SIMDA/BPKAD, SiRUP,
SPSE/LPSE, e-Monev), for `rantai sources scaffold` to recognise tables and columns.

Names are compared normalised (`normal`): lower case, every run of other characters one
underscore, so "Kode Sub Kegiatan", "KODE_SUB_KEGIATAN" and "kode sub kegiatan" are one
name. An alias listed first is preferred when a table has several.
"""

from __future__ import annotations

import re

_OTHER = re.compile(r"[^a-z0-9]+")


def normal(name: str) -> str:
    """A column or table name as the vocabulary compares it: `Realisasi Fisik (%)` →
    `realisasi_fisik`."""
    return _OTHER.sub("_", name.lower()).strip("_")


FISCAL_YEAR = ("tahun", "thn", "tahun_anggaran", "ta", "tahun_ang")
SUB_ACTIVITY_CODE = (
    "kode_sub_giat",
    "kd_sub_giat",
    "kd_subkeg",
    "kode_subkeg",
    "kd_sub_keg",
    "kode_sub_keg",
    "kd_sub_kegiatan",
    "kode_sub_kegiatan",
    "kd_sub_kgt",
)
OPD_CODE = ("kode_skpd", "kd_skpd", "kd_satker_str", "kode_satker", "kode_opd", "kd_opd", "kd_unit")
OPD_NAME = ("nama_skpd", "nm_skpd", "nama_satker", "nama_opd", "nm_opd", "nm_unit")
ACCOUNT_CODE = ("kode_akun", "kd_rek", "kode_rekening", "kd_rekening", "kode_rek", "kd_akun")
CONTRACT_NUMBER = ("no_kontrak", "nomor_kontrak", "no_spk", "nomor_spk")
TENDER_CODE = ("kd_tender", "kode_tender", "kd_lelang", "kode_lelang", "kd_nontender")
RUP_CODE = ("kd_rup", "kode_rup", "id_rup")
NPWP = ("npwp", "npwp_penyedia", "npwp_rekanan")

# entity → (table name hints, field → column aliases)
ENTITIES: dict[str, tuple[tuple[str, ...], dict[str, tuple[str, ...]]]] = {
    "region": (
        ("wilayah", "region", "pemda", "daerah"),
        {
            "code": ("kode_wilayah", "kd_wilayah", "kode_pemda", "kd_pemda", "kode_daerah"),
            "name": ("nama_wilayah", "nm_wilayah", "nama_pemda", "nama_daerah"),
            "level": ("tingkat", "level", "jenis_wilayah", "tingkat_wilayah"),
            "parent_code": ("kode_induk", "kd_induk", "induk", "kode_provinsi"),
        },
    ),
    "opd": (
        ("skpd", "opd", "satker", "unit", "organisasi"),
        {"code": OPD_CODE, "name": OPD_NAME},
    ),
    "program": (
        ("program", "prog"),
        {
            "fiscal_year": FISCAL_YEAR,
            "code": ("kode_program", "kd_program", "kd_prog", "kode_prog"),
            "name": ("nama_program", "nm_program", "nm_prog", "uraian_program"),
        },
    ),
    "activity": (
        ("giat", "kegiatan", "keg"),
        {
            "fiscal_year": FISCAL_YEAR,
            "code": ("kode_giat", "kd_giat", "kode_kegiatan", "kd_kegiatan", "kd_keg", "kode_keg"),
            "name": ("nama_giat", "nm_giat", "nama_kegiatan", "nm_kegiatan", "nm_keg"),
        },
    ),
    "sub_activity": (
        ("sub_keg", "subkeg", "sub_giat", "sub_kegiatan", "renja", "rkpd"),
        {
            "fiscal_year": FISCAL_YEAR,
            "code": SUB_ACTIVITY_CODE,
            "name": (
                "nama_sub_giat",
                "nm_sub_giat",
                "nm_subkeg",
                "nama_subkeg",
                "nm_sub_kegiatan",
                "nama_sub_kegiatan",
                "nm_sub_keg",
            ),
            "opd_code": OPD_CODE,
            "opd_name": OPD_NAME,
            "planned_amount": ("pagu_indikatif", "pagu", "nilai", "pagu_renja", "anggaran"),
        },
    ),
    "indicator": (
        ("capaian", "indikator", "kinerja"),
        {
            "fiscal_year": FISCAL_YEAR,
            "sub_activity_code": SUB_ACTIVITY_CODE,
            "seq": ("no_urut", "no", "urut", "nomor", "seq"),
            "description": ("tolok_ukur", "indikator", "uraian_indikator", "nama_indikator"),
            "unit": ("satuan", "satuan_indikator"),
            "target": ("target", "target_kinerja"),
            "achieved": ("realisasi", "capaian", "realisasi_kinerja"),
        },
    ),
    "budget_line": (
        ("dpa", "rka", "rincian", "anggaran", "belanja"),
        {
            "fiscal_year": FISCAL_YEAR,
            "sub_activity_code": SUB_ACTIVITY_CODE,
            "account_code": ACCOUNT_CODE,
            "account_name": (
                "nama_akun",
                "nm_rek",
                "uraian_rekening",
                "nm_rekening",
                "nama_rekening",
            ),
            "amount": ("nilai", "pagu", "jumlah", "total_harga", "nilai_dpa", "anggaran"),
            "dpa_number": ("no_dpa", "nomor_dpa"),
            "opd_code": OPD_CODE,
            "opd_name": OPD_NAME,
        },
    ),
    "payment": (
        ("sp2d", "pencairan", "pembayaran"),
        {
            "fiscal_year": FISCAL_YEAR,
            "sp2d_number": ("nomor_sp2d", "no_sp2d", "nomor", "no"),
            "paid_on": ("tanggal_sp2d", "tgl_sp2d", "tanggal", "tgl"),
            "amount": ("nilai_sp2d", "nilai", "jumlah", "nominal"),
            "kind": ("jenis", "jns_sp2d", "jenis_sp2d", "jns"),
            "account_code": ACCOUNT_CODE,
            "sub_activity_code": SUB_ACTIVITY_CODE,
            "contract_number": CONTRACT_NUMBER,
            "payee_name": ("nama_penerima", "nm_penerima", "penerima", "nama_rekanan"),
            "payee_tax_id": ("npwp_penerima", "npwp", "npwp_rekanan"),
            "opd_code": OPD_CODE,
            "opd_name": OPD_NAME,
        },
    ),
    "procurement_package": (
        ("rup_paket", "paket", "rup"),
        {
            "rup_code": RUP_CODE,
            "opd_code": ("kd_satker_str", *OPD_CODE),
            "opd_name": ("nama_satker", *OPD_NAME),
            "fiscal_year": FISCAL_YEAR,
            "name": ("nama_paket", "nm_paket", "paket"),
            "method": ("metode_pengadaan", "metode_pemilihan", "mtd_pengadaan"),
            "category": ("jenis_pengadaan", "jns_pengadaan"),
            "ceiling": ("pagu", "pagu_paket", "pagu_rup"),
            "funding_source": ("sumber_dana", "sumberdana"),
            "announced_on": (
                "tgl_umumkan",
                "tgl_pengumuman",
                "tanggal_umumkan",
                "tgl_umumkan_paket",
            ),
        },
    ),
    "package_budget_row": (
        ("anggaran", "rup_anggaran", "paket_anggaran"),
        {"rup_code": RUP_CODE, "mak": ("mak", "kode_mak"), "amount": ("pagu", "nilai", "jumlah")},
    ),
    "package_version": (
        ("histori", "riwayat", "versi", "history"),
        {
            "rup_code": RUP_CODE,
            "version": ("versi", "versi_paket", "no_versi"),
            "ceiling": ("pagu",),
            "status": ("status_umumkan", "status"),
            "version_date": ("tgl_versi", "tanggal_versi", "tgl_perubahan"),
        },
    ),
    "tender": (
        ("tender", "lelang", "nontender"),
        {
            "code": TENDER_CODE,
            "name": ("nama_paket", "nama_tender", "nama_lelang"),
            "method": ("mtd_pemilihan", "metode_pemilihan", "metode_pengadaan"),
            "owner_estimate": ("hps", "nilai_hps"),
            "ceiling": ("pagu",),
            "status": ("status_tender", "status_lelang", "status"),
            "version": ("versi_tender", "versi_lelang"),
            "announced_on": ("tgl_pengumuman_tender", "tgl_pengumuman", "tanggal_pengumuman"),
        },
    ),
    "tender_package": (
        ("tender_rup", "lelang_rup", "paket_tender"),
        {"tender_code": TENDER_CODE, "rup_code": RUP_CODE},
    ),
    "tender_schedule": (
        ("jadwal", "tahapan"),
        {
            "tender_code": TENDER_CODE,
            "stage": ("tahapan", "nama_tahapan", "tahap"),
            "starts_on": ("tgl_mulai", "tanggal_mulai", "mulai"),
            "ends_on": ("tgl_selesai", "tanggal_selesai", "selesai"),
        },
    ),
    "bid": (
        ("peserta", "penawaran", "penyedia"),
        {
            "tender_code": TENDER_CODE,
            "vendor_key": NPWP,
            "vendor_name": ("nama_penyedia", "nama_rekanan", "nama_peserta"),
            "vendor_tax_id": NPWP,
            "amount": ("nilai_penawaran", "harga_penawaran", "penawaran"),
            "corrected_amount": ("nilai_terkoreksi", "harga_terkoreksi"),
            "is_winner": ("pemenang", "is_pemenang", "menang"),
        },
    ),
    "contract": (
        ("kontrak", "spk"),
        {
            "number": CONTRACT_NUMBER,
            "tender_code": TENDER_CODE,
            "vendor_name": ("nama_penyedia", "nama_rekanan"),
            "vendor_tax_id": NPWP,
            "signed_on": ("tgl_kontrak", "tanggal_kontrak", "tgl_ttd"),
            "value": ("nilai_kontrak", "nilai"),
            "starts_on": ("tgl_mulai", "tgl_mulai_kontrak", "tanggal_mulai"),
            "ends_on": ("tgl_selesai", "tgl_selesai_kontrak", "tanggal_selesai"),
        },
    ),
    "contract_amendment": (
        ("addendum", "adendum", "amandemen"),
        {
            "contract_number": CONTRACT_NUMBER,
            "version": ("versi_addendum", "versi_adendum", "addendum_ke", "versi"),
            "value": ("nilai", "nilai_addendum", "nilai_kontrak"),
            "reason": ("alasan_addendum", "alasan", "keterangan"),
            "signed_on": ("tgl_addendum", "tanggal_addendum"),
        },
    ),
    "letter": (
        ("surat_keluar", "surat_masuk", "surat", "esurat", "naskah_dinas", "persuratan"),
        {
            "number": ("no_surat", "nomor_surat", "no_naskah", "nomor_naskah"),
            "dated_on": ("tgl_surat", "tanggal_surat", "tgl_naskah", "tanggal_naskah"),
            "kind": ("jenis_surat", "jenis_naskah", "kategori_surat", "jenis"),
            "subject": ("perihal", "hal", "ringkasan"),
            "direction": ("arah_surat", "arah"),
            "sender": ("unit_pengirim", "pengirim", "asal_surat", "dari"),
            "recipient": ("unit_tujuan", "tujuan", "penerima", "kepada"),
            "contract_number": CONTRACT_NUMBER,
            "tender_code": TENDER_CODE,
        },
    ),
    "progress_report": (
        ("form_a", "monev", "realisasi", "evaluasi"),
        {
            "fiscal_year": FISCAL_YEAR,
            "sub_activity_code": (*SUB_ACTIVITY_CODE, "kode"),
            "period": ("periode", "triwulan", "tw", "bulan"),
            "physical_percent": ("realisasi_fisik", "fisik", "persen_fisik", "progres_fisik"),
            "financial_percent": ("realisasi_keuangan", "keuangan", "persen_keuangan"),
            "problems": ("permasalahan", "masalah", "kendala", "hambatan"),
        },
    ),
}

# Names an updated-at column goes by (a watermark candidate).
UPDATED_AT = (
    "updated_at",
    "tgl_update",
    "auditupdate",
    "last_update",
    "tgl_ubah",
    "modified_at",
    "waktu_update",
    "update_date",
    "tanggal_update",
    "last_modified",
)

# Legacy words for values of a closed vocabulary (canonical value ← words), matched
# normalised: what `map` the scaffold writes for them.
WORDS: dict[str, dict[str, str]] = {
    "level": {
        "provinsi": "PROVINCE",
        "prov": "PROVINCE",
        "propinsi": "PROVINCE",
        "kabupaten": "REGENCY",
        "kab": "REGENCY",
        "kota": "CITY",
        "kotamadya": "CITY",
    },
}
