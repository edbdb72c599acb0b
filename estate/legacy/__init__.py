"""The estate in each legacy system's own shape: tables, column names, code and number formats.

Three flavours of the same systems, so that mappings have something to do:

- A (the province, SIPD-like): `kode_sub_giat`, padded codes, numeric amounts, DATE columns,
  an `updated_at` on every row.
- B (Kabupaten Kupang, SIMDA-like copies): `kd_subkeg`/`nilai`, codes without zero padding
  (`1.3.10.2.1.31`), account codes split over `kd_rek_1` … `kd_rek_6`, amounts as Indonesian
  text (`1.250.000,00`), dates as `dd-mm-yyyy` text, `tgl_update` watermarks.
- C (Kota Kupang): SIPD names with spaced codes (`1. 03. 10. 2. 01. 0031`), account codes
  without separators (`520401010003`), `pagu` instead of `pagu_indikatif`, and a finance
  database with no updated-at column at all (synced by keyed diff).

In the `ntt` scale the other regencies take these flavours in turn.

One module per legacy system (`eplanning`, `finance`, `procurement`, `monev`); `tables` holds
what the writers take and `formats` the values as each flavour writes them.
"""
