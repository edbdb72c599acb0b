"""Reference data of the demo estate: NTT regions, OPDs, accounts and words (programs, kegiatan
and sub kegiatan come from the real nomenclature: estate/nomenclature.py).

Everything here is plain data in Indonesian, shaped like DOMAIN.md. The generator picks from
these lists with a seeded random generator, so the same seed gives the same estate.
"""

from __future__ import annotations

from dataclasses import dataclass

# (code, name, level) — Kemendagri codes of NTT (DOMAIN.md).
REGIONS: list[tuple[str, str, str]] = [
    ("53", "Provinsi Nusa Tenggara Timur", "PROVINCE"),
    ("53.01", "Kabupaten Kupang", "REGENCY"),
    ("53.02", "Kabupaten Timor Tengah Selatan", "REGENCY"),
    ("53.03", "Kabupaten Timor Tengah Utara", "REGENCY"),
    ("53.04", "Kabupaten Belu", "REGENCY"),
    ("53.05", "Kabupaten Alor", "REGENCY"),
    ("53.06", "Kabupaten Flores Timur", "REGENCY"),
    ("53.07", "Kabupaten Sikka", "REGENCY"),
    ("53.08", "Kabupaten Ende", "REGENCY"),
    ("53.09", "Kabupaten Ngada", "REGENCY"),
    ("53.10", "Kabupaten Manggarai", "REGENCY"),
    ("53.11", "Kabupaten Sumba Timur", "REGENCY"),
    ("53.12", "Kabupaten Sumba Barat", "REGENCY"),
    ("53.13", "Kabupaten Lembata", "REGENCY"),
    ("53.14", "Kabupaten Rote Ndao", "REGENCY"),
    ("53.15", "Kabupaten Manggarai Barat", "REGENCY"),
    ("53.16", "Kabupaten Nagekeo", "REGENCY"),
    ("53.17", "Kabupaten Sumba Tengah", "REGENCY"),
    ("53.18", "Kabupaten Sumba Barat Daya", "REGENCY"),
    ("53.19", "Kabupaten Manggarai Timur", "REGENCY"),
    ("53.20", "Kabupaten Sabu Raijua", "REGENCY"),
    ("53.21", "Kabupaten Malaka", "REGENCY"),
    ("53.71", "Kota Kupang", "CITY"),
]
REGION_NAMES = {code: name for code, name, _ in REGIONS}
REGION_LEVELS = {code: level for code, _, level in REGIONS}
REGION_INDEX = {code: i for i, (code, _, _) in enumerate(REGIONS)}


@dataclass(frozen=True)
class OpdKind:
    bidang: str  # U.BB
    number: int  # NN, the OPD's sequence within its bidang
    subunit: int  # SSSS
    name: str
    short: str  # used in document numbers
    weight: int  # relative share of the sub-activities

    @property
    def code(self) -> str:
        return f"{self.bidang}.0.00.0.00.{self.number:02d}.{self.subunit:04d}"


# Ordered by size: a small estate takes the first few.
OPDS: list[OpdKind] = [
    OpdKind("1.03", 1, 0, "Dinas Pekerjaan Umum dan Penataan Ruang", "PUPR", 9),
    OpdKind("1.02", 1, 0, "Dinas Kesehatan", "DINKES", 7),
    OpdKind("1.01", 1, 0, "Dinas Pendidikan dan Kebudayaan", "DIKBUD", 7),
    OpdKind("1.04", 1, 0, "Dinas Perumahan Rakyat dan Kawasan Permukiman", "PERKIM", 4),
    OpdKind("3.27", 1, 0, "Dinas Pertanian dan Perkebunan", "DISTAN", 4),
    OpdKind("1.02", 1, 5, "RSUD Prof. Dr. W. Z. Johannes", "RSUD", 4),
    OpdKind("2.15", 1, 0, "Dinas Perhubungan", "DISHUB", 3),
    OpdKind("1.06", 1, 0, "Dinas Sosial", "DINSOS", 3),
    OpdKind("5.01", 1, 0, "Badan Perencanaan Pembangunan Daerah", "BAPPEDA", 3),
    OpdKind("5.02", 1, 0, "Badan Pengelolaan Keuangan dan Aset Daerah", "BPKAD", 3),
    OpdKind("3.25", 1, 0, "Dinas Kelautan dan Perikanan", "DKP", 3),
    OpdKind("2.11", 1, 0, "Dinas Lingkungan Hidup dan Kehutanan", "DLHK", 3),
    OpdKind("4.01", 1, 0, "Sekretariat Daerah", "SETDA", 3),
    OpdKind("2.16", 1, 0, "Dinas Komunikasi dan Informatika", "KOMINFO", 2),
    OpdKind("3.26", 1, 0, "Dinas Pariwisata dan Ekonomi Kreatif", "DISPAR", 2),
    OpdKind("1.05", 2, 0, "Badan Penanggulangan Bencana Daerah", "BPBD", 2),
    OpdKind("1.05", 1, 0, "Satuan Polisi Pamong Praja", "SATPOLPP", 2),
    OpdKind("2.09", 1, 0, "Dinas Ketahanan Pangan", "DKP2", 2),
    OpdKind("2.07", 1, 0, "Dinas Tenaga Kerja dan Transmigrasi", "NAKERTRANS", 2),
    OpdKind("2.17", 1, 0, "Dinas Koperasi dan Usaha Kecil Menengah", "KOPUKM", 2),
    OpdKind("4.02", 1, 0, "Sekretariat DPRD", "SETWAN", 2),
    OpdKind("5.02", 2, 0, "Badan Pendapatan Daerah", "BAPENDA", 2),
    OpdKind("2.08", 1, 0, "Dinas Pemberdayaan Perempuan dan Perlindungan Anak", "DP3A", 2),
    OpdKind("2.13", 1, 0, "Dinas Pemberdayaan Masyarakat dan Desa", "DPMD", 2),
    OpdKind("2.18", 1, 0, "Dinas Penanaman Modal dan PTSP", "DPMPTSP", 2),
    OpdKind("2.19", 1, 0, "Dinas Kepemudaan dan Olahraga", "DISPORA", 2),
    OpdKind("2.23", 1, 0, "Dinas Perpustakaan dan Kearsipan", "DISPUSIP", 1),
    OpdKind("3.30", 1, 0, "Dinas Perindustrian dan Perdagangan", "DISPERINDAG", 2),
    OpdKind("3.29", 1, 0, "Dinas Energi dan Sumber Daya Mineral", "ESDM", 2),
    OpdKind("5.03", 1, 0, "Badan Kepegawaian Daerah", "BKD", 1),
    OpdKind("5.04", 1, 0, "Badan Pengembangan Sumber Daya Manusia", "BPSDM", 1),
    OpdKind("6.01", 1, 0, "Inspektorat Daerah", "INSPEKTORAT", 1),
    OpdKind("8.01", 1, 0, "Badan Kesatuan Bangsa dan Politik", "KESBANGPOL", 1),
]
# The offices that run the legacy systems (owner_opd of each source).
BAPPEDA_OPD = "5.01.0.00.0.00.01.0000"
BPKAD_OPD = "5.02.0.00.0.00.01.0000"
SETDA_OPD = "4.01.0.00.0.00.01.0000"  # Sekretariat Daerah: the e-office
BPBJ_OPD = "4.01.0.00.0.00.01.0003"  # Biro / Bagian Pengadaan Barang dan Jasa under Setda

WORKS = [
    "Rehabilitasi",
    "Pembangunan",
    "Peningkatan",
    "Pemeliharaan",
    "Pengadaan",
    "Penyusunan",
    "Pelatihan",
    "Pendampingan",
    "Fasilitasi",
    "Koordinasi",
    "Rekonstruksi",
    "Penyediaan",
]
OBJECTS = [
    "Jalan Ruas Kupang–Baun",
    "Jalan Ruas Soe–Niki Niki",
    "Jaringan Irigasi Bendung Tilong",
    "Puskesmas Oesao",
    "Puskesmas Sikumana",
    "SMA Negeri 3 Soe",
    "SMK Negeri 1 Kupang",
    "Embung Desa Oelnasi",
    "Sarana Air Bersih Desa Noelbaki",
    "Gedung Kantor Dinas",
    "Sistem Informasi Perencanaan Daerah",
    "Dokumen Rencana Kerja Perangkat Daerah",
    "Jembatan Noelmina",
    "Rumah Layak Huni",
    "Pelabuhan Perikanan Tenau",
    "Pasar Inpres Naikoten",
    "Alat Kesehatan RSUD",
    "Bibit Jagung Hibrida",
    "Kapal Penangkap Ikan",
    "Sumur Bor Desa Camplong",
    "Drainase Kota Kupang",
    "Talud Pantai Lasiana",
    "Laboratorium Kesehatan Daerah",
    "Obat dan Bahan Medis Habis Pakai",
    "Kendaraan Operasional Lapangan",
    "Jaringan Internet Kantor",
]
INDICATORS = [
    ("Jumlah dokumen perencanaan yang disusun", "Dokumen"),
    ("Panjang jalan yang ditingkatkan", "Km"),
    ("Jumlah unit sarana yang dibangun", "Unit"),
    ("Jumlah orang yang dilatih", "Orang"),
    ("Persentase layanan yang memenuhi standar", "Persen"),
    ("Jumlah paket bantuan yang disalurkan", "Paket"),
    ("Luas lahan yang ditangani", "Ha"),
]
PROBLEMS = [
    "Keterlambatan pengiriman material",
    "Curah hujan tinggi di lokasi pekerjaan",
    "Proses pengadaan ulang",
    "Revisi DPA belum disahkan",
    "Akses ke lokasi terputus",
]
VENDOR_PREFIX = ["CV.", "PT.", "CV.", "CV.", "UD."]
VENDOR_WORDS = [
    "Flobamora",
    "Timor",
    "Sasando",
    "Kelimutu",
    "Komodo",
    "Nusa",
    "Lontar",
    "Cendana",
    "Karya",
    "Jaya",
    "Mandiri",
    "Sejahtera",
    "Bangun",
    "Persada",
    "Abadi",
    "Konstruksi",
    "Fatuleu",
    "Mutis",
    "Oebobo",
    "Lasiana",
]


@dataclass(frozen=True)
class Account:
    code: str
    name: str
    procurable: bool
    categories: tuple[str, ...]  # jenis pengadaan this account buys


ACCOUNTS: list[Account] = [
    Account(
        "5.1.02.01.01.0024",
        "Belanja Alat/Bahan untuk Kegiatan Kantor-Alat Tulis Kantor",
        True,
        ("Barang",),
    ),
    Account(
        "5.1.02.01.01.0026",
        "Belanja Alat/Bahan untuk Kegiatan Kantor-Bahan Cetak",
        True,
        ("Barang",),
    ),
    Account("5.1.02.01.01.0052", "Belanja Makanan dan Minuman Rapat", True, ("Barang",)),
    Account("5.1.02.02.01.0029", "Belanja Jasa Tenaga Kebersihan", True, ("Jasa Lainnya",)),
    Account(
        "5.1.02.02.12.0001",
        "Belanja Jasa Konsultansi Perencanaan Rekayasa",
        True,
        ("Jasa Konsultansi",),
    ),
    Account(
        "5.1.02.03.02.0035",
        "Belanja Pemeliharaan Alat Angkutan Darat Bermotor",
        True,
        ("Jasa Lainnya",),
    ),
    Account("5.1.02.02.01.0061", "Belanja Tagihan Listrik", True, ("Jasa Lainnya",)),
    Account("5.2.02.05.01.0005", "Belanja Modal Alat Kantor Lainnya", True, ("Barang",)),
    Account("5.2.02.10.01.0002", "Belanja Modal Personal Computer", True, ("Barang",)),
    Account(
        "5.2.03.01.01.0001",
        "Belanja Modal Bangunan Gedung Kantor",
        True,
        ("Pekerjaan Konstruksi",),
    ),
    Account("5.2.04.01.01.0003", "Belanja Modal Jalan", True, ("Pekerjaan Konstruksi",)),
    Account("5.2.04.02.01.0001", "Belanja Modal Jaringan Irigasi", True, ("Pekerjaan Konstruksi",)),
    Account("5.1.02.02.01.0026", "Belanja Jasa Tenaga Administrasi", False, ()),
    Account("5.1.02.04.01.0001", "Belanja Perjalanan Dinas Biasa", False, ()),
    Account(
        "5.1.01.02.01.0001", "Belanja Honorarium Penanggungjawaban Pengelola Keuangan", False, ()
    ),
]
ACCOUNT_BY_CODE = {a.code: a for a in ACCOUNTS}
OPERATING_GOODS = [a for a in ACCOUNTS if a.procurable and a.code.startswith("5.1.02.01")]
CAPITAL_GOODS = [a for a in ACCOUNTS if a.code.startswith("5.2.02")]
CONSTRUCTION = [a for a in ACCOUNTS if "Pekerjaan Konstruksi" in a.categories]
CONSULTANCY = [a for a in ACCOUNTS if "Jasa Konsultansi" in a.categories]
SERVICES = [a for a in ACCOUNTS if "Jasa Lainnya" in a.categories]
NON_PROCURABLE = [a for a in ACCOUNTS if not a.procurable]
BILLS = ACCOUNT_BY_CODE["5.1.02.02.01.0061"]
