"""Build nomenclature.csv from the sesendok '11. Sub keg 900.xlsx' sheet.

Input : path to the xlsx (extracted from allweDepth/sesendok, see README.md)
Output: nomenclature.csv (level,code,name,parent_code), UTF-8, sorted by code.
Only whitespace is normalised (PDF-extraction line breaks / runs of spaces).
"""

import collections
import csv
import re
import sys

import openpyxl

src, out = sys.argv[1], sys.argv[2]
wb = openpyxl.load_workbook(src, read_only=True)
rows = list(wb["subkeg"].iter_rows(values_only=True))[1:]

KEEP_CAMEL = {"iBangga", "ZoSS", "PraSarana"}  # camel-case that is (or may be) intended


def unglue(word):
    # PDF extraction lost the space between two words ("danKomunikasi");
    # re-insert it at a lower->upper boundary unless the token is whitelisted.
    core = word.strip("(),.;:")
    if core in KEEP_CAMEL:
        return word
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", word)


# Lower-case / upper-case tokens glued by the PDF extraction, found by inspection.
GLUED_TOKENS = {
    "UMUMDAN": "UMUM DAN",
    "KELAUTANDAN": "KELAUTAN DAN",
    "ENERGIDAN": "ENERGI DAN",
    "yangdibutuhkan": "yang dibutuhkan",
    "Barudan": "Baru dan",
    "diaturdengan": "diatur dengan",
    "dengankewajiban": "dengan kewajiban",
    "Kerjadalam": "Kerja dalam",
    "akreditasiseluruh": "akreditasi seluruh",
    "akreditasipuskesmas": "akreditasi puskesmas",
    "peraturanperundang": "peraturan perundang",
}

UNGLUED = []


def norm(s):
    if s is None:
        return None
    out = re.sub(r"\s+", " ", str(s)).strip()
    fixed = " ".join(unglue(w) for w in out.split(" "))
    for bad, good in GLUED_TOKENS.items():
        fixed = re.sub(rf"\b{bad}\b", good, fixed)
    if fixed != out:
        UNGLUED.append((out, fixed))
    return fixed


def seg_u(v):
    return str(v)


def seg_b(v):
    return "XX" if v == "XX" else f"{int(v):02d}"


def seg_p(v):
    return f"{int(v):02d}"


recs = {}
dups = []
for r in rows:
    u, b, p, k, s, name = r[:6]
    name = norm(name)
    if u is None and name is None:
        continue
    if b is None:
        level, code, parent = "urusan", seg_u(u), ""
    elif p is None:
        level, code, parent = "bidang_urusan", f"{seg_u(u)}.{seg_b(b)}", seg_u(u)
    elif k is None:
        parent = f"{seg_u(u)}.{seg_b(b)}"
        level, code = "program", f"{parent}.{seg_p(p)}"
    elif s is None:
        parent = f"{seg_u(u)}.{seg_b(b)}.{seg_p(p)}"
        level, code = "kegiatan", f"{parent}.{k}"
    else:
        parent = f"{seg_u(u)}.{seg_b(b)}.{seg_p(p)}.{k}"
        level, code = "sub_kegiatan", f"{parent}.{int(s):04d}"
    if code in recs:
        dups.append((code, recs[code][1], name))
        continue
    recs[code] = (level, name, parent)

# integrity
missing_parent = [c for c, (_lv, _n, p) in recs.items() if p and p not in recs]
with open(out, "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["level", "code", "name", "parent_code"])
    for code in sorted(recs):
        lv, n, p = recs[code]
        w.writerow([lv, code, n, p])
print("counts", collections.Counter(lv for lv, _n, _p in recs.values()))
print("duplicates", len(dups), dups[:20])
print("unglued names", len(UNGLUED))
print("missing parents", len(missing_parent), missing_parent[:20])
