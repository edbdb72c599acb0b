"""BPBJ's procurement database (PostgreSQL): SiRUP packages, their budget rows and history,
and SPSE tenders, schedules, bids, contracts and addenda."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, timedelta

from estate import names
from estate.legacy.formats import dmy, money, npwp_text, procurement_flavour
from estate.legacy.tables import Clock, Table
from estate.model import RegionYear


def procurement_tables(region: str, years: Sequence[RegionYear], seed: int) -> list[Table]:
    """The same SiRUP/SPSE schema everywhere (a national system); regencies export dates as
    dd-mm-yyyy text (B) or flag winners with Ya/Tidak and format NPWPs (C)."""
    f = procurement_flavour(region)
    clock = Clock(random.Random(f"{seed}/{region}/procurement"))
    day_kind = "text" if f == "B" else "date"
    win_kind = {"A": "bool", "B": "smallint", "C": "text"}[f]

    def day(value: date | None) -> date | str | None:
        return dmy(value) if f == "B" else value

    def winner(flag: bool) -> bool | int | str:
        if f == "A":
            return flag
        if f == "B":
            return int(flag)
        return "Ya" if flag else "Tidak"

    def npwp(value: str) -> str:
        return npwp_text(value) if f == "C" else value

    paket = Table(
        "rup_paket",
        [
            ("kd_rup", "bigint"),
            ("tahun", "int"),
            ("kd_satker", "int"),
            ("kd_satker_str", "text"),
            ("nama_satker", "text"),
            ("nama_paket", "text"),
            ("pagu", "money"),
            ("metode_pengadaan", "text"),
            ("jenis_pengadaan", "text"),
            ("sumber_dana", "text"),
            ("tgl_umumkan", day_kind),
            ("status_umumkan", "text"),
            ("updated_at", "timestamp"),
        ],
        key=("kd_rup",),
    )
    anggaran = Table(
        "rup_anggaran",
        [
            ("id", "int"),
            ("kd_rup", "bigint"),
            ("mak", "text"),
            ("pagu", "money"),
            ("updated_at", "timestamp"),
        ],
        key=("id",),
    )
    histori = Table(
        "rup_paket_histori",
        [
            ("kd_rup", "bigint"),
            ("versi", "int"),
            ("pagu", "money"),
            ("status_umumkan", "text"),
            ("tgl_versi", day_kind),
        ],
        key=("kd_rup", "versi"),
    )
    tender = Table(
        "spse_tender",
        [
            ("kd_tender", "bigint"),
            ("kd_lpse", "int"),
            ("tahun", "int"),
            ("nama_paket", "text"),
            ("hps", "money"),
            ("pagu", "money"),
            ("mtd_pemilihan", "text"),
            ("status_tender", "text"),
            ("versi_tender", "int"),
            ("tgl_pengumuman_tender", day_kind),
            ("auditupdate", "timestamp"),
        ],
        key=("kd_tender",),
    )
    link = Table(
        "spse_tender_rup",
        [("kd_tender", "bigint"), ("kd_rup", "bigint"), ("auditupdate", "timestamp")],
        key=("kd_tender", "kd_rup"),
    )
    jadwal = Table(
        "spse_jadwal",
        [
            ("kd_tender", "bigint"),
            ("tahapan", "text"),
            ("tgl_mulai", day_kind),
            ("tgl_selesai", day_kind),
        ],
        key=("kd_tender", "tahapan"),
    )
    peserta = Table(
        "spse_peserta",
        [
            ("kd_tender", "bigint"),
            ("kd_penyedia", "bigint"),
            ("nama_penyedia", "text"),
            ("npwp", "text"),
            ("nilai_penawaran", "money"),
            ("nilai_terkoreksi", "money"),
            ("pemenang", win_kind),
            ("auditupdate", "timestamp"),
        ],
        key=("kd_tender", "kd_penyedia"),
    )
    kontrak = Table(
        "spse_kontrak",
        [
            ("no_kontrak", "text"),
            ("kd_tender", "bigint"),
            ("nilai_kontrak", "money"),
            ("tgl_kontrak", day_kind),
            ("tgl_mulai", day_kind),
            ("tgl_selesai", day_kind),
            ("nama_penyedia", "text"),
            ("npwp_penyedia", "text"),
            ("auditupdate", "timestamp"),
        ],
        key=("no_kontrak",),
    )
    addendum = Table(
        "spse_addendum",
        [
            ("no_kontrak", "text"),
            ("versi_addendum", "int"),
            ("nilai", "money"),
            ("alasan_addendum", "text"),
            ("tgl_addendum", day_kind),
            ("auditupdate", "timestamp"),
        ],
        key=("no_kontrak", "versi_addendum"),
    )
    lpse = 115 + names.REGION_INDEX[region]
    satker_ids = {
        o.code: 60_000 + names.REGION_INDEX[region] * 1000 + i for i, o in enumerate(years[0].opds)
    }
    budget_id = 0
    for ry in years:
        fy, last = ry.fiscal_year, ry.cutoff
        stamps = clock.series(fy, last, len(ry.packages))
        for p, ts in zip(ry.packages, stamps, strict=True):
            paket.add(
                p.rup_code,
                fy,
                satker_ids[p.opd_code],
                p.opd_code,
                p.opd_name,
                p.name,
                money(p.pagu),
                p.method,
                p.category,
                p.funding,
                day(p.announced_on),
                "Terumumkan",
                ts,
            )
            for versi, pagu, status, when in p.history:
                histori.add(p.rup_code, versi, money(pagu), status, day(when))
        stamps = clock.series(fy, last, len(ry.packages))
        for p, ts in zip(ry.packages, stamps, strict=True):
            budget_id += 1
            anggaran.add(budget_id, p.rup_code, p.mak, money(p.pagu), ts)
        stamps = clock.series(fy, last, len(ry.tenders))
        links = clock.series(fy, last, sum(len(t.rup_codes) for t in ry.tenders))
        bid_count = sum(len(t.bids) for t in ry.tenders)
        bid_stamps = iter(clock.series(fy, last, bid_count))
        contracts = ry.contracts
        contract_stamps = iter(clock.series(fy, last, len(contracts)))
        amendment_stamps = iter(clock.series(fy, last, sum(len(c.amendments) for c in contracts)))
        link_stamps = iter(links)
        for t, ts in zip(ry.tenders, stamps, strict=True):
            tender.add(
                t.code,
                lpse,
                fy,
                t.name,
                money(t.hps),
                money(t.pagu),
                t.method,
                t.status,
                t.version,
                day(t.announced_on),
                ts,
            )
            for code in t.rup_codes:
                link.add(t.code, code, next(link_stamps))
            if t.bid_closes_on is not None:
                ann = t.announced_on
                jadwal.add(
                    t.code, "Pengumuman Pascakualifikasi", day(ann), day(ann + timedelta(days=7))
                )
                jadwal.add(
                    t.code,
                    "Upload Dokumen Penawaran",
                    day(ann + timedelta(days=1)),
                    day(t.bid_closes_on),
                )
                jadwal.add(
                    t.code,
                    "Penetapan Pemenang",
                    day(t.bid_closes_on + timedelta(days=3)),
                    day(t.bid_closes_on + timedelta(days=4)),
                )
            for b in t.bids:
                peserta.add(
                    t.code,
                    b.vendor.key,
                    b.vendor.name,
                    npwp(b.vendor.npwp),
                    None if b.amount is None else money(b.amount),
                    None if b.corrected is None else money(b.corrected),
                    winner(b.winner),
                    next(bid_stamps),
                )
            c = t.contract
            if c is None:
                continue
            kontrak.add(
                c.number,
                t.code,
                money(c.value),
                day(c.signed_on),
                day(c.starts_on),
                day(c.ends_on),
                c.vendor.name,
                npwp(c.vendor.npwp),
                next(contract_stamps),
            )
            for a in c.amendments:
                addendum.add(
                    c.number,
                    a.version,
                    money(a.value),
                    a.reason,
                    day(a.signed_on),
                    next(amendment_stamps),
                )
    return [paket, anggaran, histori, tender, link, jadwal, peserta, kontrak, addendum]
