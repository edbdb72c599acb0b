"""What the synthetic store names things with: its sources, Pemda, OPD with their programs,
words for names, accounts, procurement methods and categories."""

from __future__ import annotations

SOURCES = [
    ("ref-kemendagri", "Kode wilayah Kemendagri", "reference"),
    ("bappeda-eplanning", "Bappeda e-Planning (SIPD)", "postgresql"),
    ("bpkad-keuangan", "BPKAD e-Budgeting dan SP2D", "mariadb"),
    ("bpbj-spse", "BPBJ SiRUP/SPSE", "postgresql"),
    ("monev-sheets", "e-Monev Form A", "spreadsheet"),
]

REGIONS = [
    ("53", "Provinsi Nusa Tenggara Timur", "PROVINCE", None),
    ("53.01", "Kabupaten Kupang", "REGENCY", "53"),
    ("53.71", "Kota Kupang", "CITY", "53"),
]

# (bidang urusan, OPD name, program names)
OPD_KINDS = [
    (
        "1.01",
        "Dinas Pendidikan dan Kebudayaan",
        ["Pengelolaan Pendidikan", "Pengembangan Kurikulum"],
    ),
    ("1.02", "Dinas Kesehatan", ["Pemenuhan Upaya Kesehatan", "Sumber Daya Manusia Kesehatan"]),
    (
        "1.03",
        "Dinas Pekerjaan Umum dan Penataan Ruang",
        ["Pengelolaan Sumber Daya Air", "Penyelenggaraan Jalan"],
    ),
    (
        "1.04",
        "Dinas Perumahan Rakyat dan Kawasan Permukiman",
        ["Pengembangan Perumahan", "Kawasan Permukiman"],
    ),
    ("1.05", "Satuan Polisi Pamong Praja", ["Peningkatan Ketenteraman dan Ketertiban Umum"]),
    ("1.06", "Dinas Sosial", ["Rehabilitasi Sosial", "Perlindungan dan Jaminan Sosial"]),
    ("2.07", "Dinas Tenaga Kerja dan Transmigrasi", ["Pelatihan Kerja dan Produktivitas"]),
    ("2.09", "Dinas Ketahanan Pangan", ["Peningkatan Diversifikasi dan Ketahanan Pangan"]),
    ("2.11", "Dinas Lingkungan Hidup", ["Pengendalian Pencemaran Lingkungan Hidup"]),
    ("2.15", "Dinas Perhubungan", ["Penyelenggaraan Lalu Lintas dan Angkutan Jalan"]),
    ("2.16", "Dinas Komunikasi dan Informatika", ["Pengelolaan Aplikasi Informatika"]),
    ("2.17", "Dinas Koperasi dan UKM", ["Pemberdayaan Usaha Menengah, Kecil dan Mikro"]),
    ("3.25", "Dinas Kelautan dan Perikanan", ["Pengelolaan Perikanan Tangkap"]),
    ("3.26", "Dinas Pariwisata", ["Peningkatan Daya Tarik Destinasi Pariwisata"]),
    ("3.27", "Dinas Pertanian dan Perkebunan", ["Penyediaan dan Pengembangan Sarana Pertanian"]),
    ("5.01", "Badan Perencanaan Pembangunan Daerah", ["Perencanaan, Pengendalian dan Evaluasi"]),
    ("5.02", "Badan Pendapatan dan Aset Daerah", ["Pengelolaan Keuangan Daerah"]),
]

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
]
OBJECTS = [
    "Jalan Provinsi Ruas Kupang–Baun",
    "Jaringan Irigasi Bendung Tilong",
    "Puskesmas Oesao",
    "Sekolah Menengah Atas Negeri 3 Soe",
    "Embung Desa Oelnasi",
    "Sarana Air Bersih Desa Noelbaki",
    "Gedung Kantor Dinas",
    "Sistem Informasi Perencanaan",
    "Dokumen Rencana Kerja",
    "Jembatan Noelmina",
    "Rumah Layak Huni",
    "Pelabuhan Perikanan Tenau",
    "Pasar Inpres Naikoten",
    "Alat Kesehatan RSUD",
    "Bibit Jagung Hibrida",
    "Kapal Penangkap Ikan",
]
VENDOR_PREFIX = ["CV.", "PT.", "CV.", "CV."]
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
]
ACCOUNTS = [
    ("5.1.02.01.01.0024", "Belanja Alat/Bahan untuk Kegiatan Kantor-Alat Tulis Kantor"),
    ("5.1.02.02.01.0026", "Belanja Jasa Tenaga Administrasi"),
    ("5.1.02.04.01.0001", "Belanja Perjalanan Dinas Biasa"),
    ("5.2.02.05.01.0005", "Belanja Modal Alat Kantor Lainnya"),
    ("5.2.03.01.01.0001", "Belanja Modal Bangunan Gedung Kantor"),
    ("5.2.04.01.01.0003", "Belanja Modal Jalan Kabupaten"),
    ("5.2.04.02.01.0001", "Belanja Modal Jaringan Irigasi"),
]
METHODS = [  # (RUP method, SPSE method or None for E-Purchasing/swakelola, weight)
    # About 17% of RUP packages reach SPSE, ~100 full tenders per province (DOMAIN.md).
    ("E-Purchasing", None, 240),
    ("Pengadaan Langsung", "Pengadaan Langsung", 60),
    ("Tender", "Tender", 2),
    ("Seleksi", "Seleksi", 1),
    ("Penunjukan Langsung", "Penunjukan Langsung", 1),
    ("Dikecualikan", None, 96),
]
CATEGORIES = ["Barang", "Pekerjaan Konstruksi", "Jasa Konsultansi", "Jasa Lainnya"]
