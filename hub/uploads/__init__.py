"""Workbooks sent by an OPD (`POST /upload/monev`), checked before the hub keeps them.

`check.py` runs in a process of its own, started by the API for each upload
(`python -m hub.uploads.check`): it opens an untrusted file, so a file that exhausts memory
or CPU takes that process down, never the API, and the API itself loads neither the
mappings nor a spreadsheet reader (decision 29). It finds the OPD's upload source in
rantai.toml, refuses what is not a plain workbook (macros, external links, formulas that
refer outside it), and maps every row as the sync would, listing each problem in
Indonesian with its sheet, row and column.
"""
