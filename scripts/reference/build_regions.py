"""Build regions.csv (provinces + regencies/cities) from cahyadsn/wilayah db/wilayah.sql.

Only rows whose code is 'NN' (province) or 'NN.NN' (kabupaten/kota) are kept.
Names: leading/trailing/multiple whitespace removed; otherwise as in the source.
Level: PROVINCE for NN; CITY when the 2nd segment is 71..99 (kota, incl. 'Kota
Administrasi' in DKI Jakarta); REGENCY for 01..69 (kabupaten, incl. 'Kabupaten
Administrasi Kepulauan Seribu').
"""

import collections
import csv
import re
import sys

src, out = sys.argv[1], sys.argv[2]
with open(src, encoding="utf-8") as f:
    text = f.read()
rows = re.findall(r"\('(\d{2}(?:\.\d{2})?)','((?:[^'\\]|\\.|'')*)'\)", text)
recs = {}
for code, name in rows:
    name = re.sub(r"\s+", " ", name.replace("''", "'")).strip()
    if code in recs:
        raise SystemExit(f"duplicate code {code}")
    if len(code) == 2:
        recs[code] = (name, "PROVINCE", "")
    else:
        level = "CITY" if int(code[3:]) >= 71 else "REGENCY"
        recs[code] = (name, level, code[:2])

for code, (name, level, parent) in recs.items():
    assert not parent or parent in recs, code
    assert (level == "CITY") == name.startswith("Kota "), (code, name)

with open(out, "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["code", "name", "level", "parent_code"])
    for code in sorted(recs):
        name, level, parent = recs[code]
        w.writerow([code, name, level, parent])
print(collections.Counter(lv for _, lv, _ in recs.values()))
