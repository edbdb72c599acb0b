// Rantai dashboard: province → Pemda → OPD, each with its chain and open ketimpangan.
// Uses only the public GraphQL API: queries over HTTP (POST /graphql) and the
// graphql-transport-ws subscriptions `changes` and `discrepancyEvents` for live updates.
(function () {
  "use strict";

  var SUMMARY =
    "subActivities plannedAmount allocated procurementCeiling contracted paid physicalPercent openDiscrepancies";
  var STAGES = [
    ["planned", "Rencana", "plannedAmount"],
    ["allocated", "DPA", "allocated"],
    ["ceiling", "RUP", "procurementCeiling"],
    ["contracted", "Kontrak", "contracted"],
    ["paid", "Realisasi", "paid"],
  ];
  var SEVERITY = { CRITICAL: "Kritis", WARNING: "Peringatan", INFO: "Info" };
  var STAGE_NAMES = {
    PLANNED: "Direncanakan", BUDGETED: "Dianggarkan", PROCURING: "Pengadaan",
    CONTRACTED: "Berkontrak", IMPLEMENTING: "Pelaksanaan", COMPLETED: "Selesai",
  };
  var ENTITY_NAMES = {
    SubActivity: "Sub kegiatan", BudgetLine: "Baris DPA", Payment: "SP2D",
    ProcurementPackage: "Paket RUP", PackageBudgetRow: "Mak paket RUP", Tender: "Tender",
    TenderPackage: "Tender–RUP", Bid: "Penawaran", Contract: "Kontrak",
    ContractAmendment: "Addendum", ProgressReport: "Laporan e-Monev", Indicator: "Indikator",
    PackageVersion: "Versi RUP", TenderSchedule: "Jadwal tender", Vendor: "Penyedia",
    Region: "Pemda", Opd: "OPD", Program: "Program", Activity: "Kegiatan",
    Discrepancy: "Ketimpangan", DiscrepancyFollowUp: "Tindak lanjut", Letter: "Surat",
  };
  var OPS = { CREATED: "baru", UPDATED: "berubah", DELETED: "dihapus", LOADED: "dimuat" };
  // The API's field names as the page says them; a field without a name here is left out of
  // the Indonesian text rather than shown as an API name.
  var FIELD_NAMES = {
    amount: "nilai", ceiling: "pagu", value: "nilai", originalValue: "nilai kontrak awal",
    ownerEstimate: "HPS", plannedAmount: "pagu indikatif", correctedAmount: "nilai terkoreksi",
    announcedOn: "tanggal umumkan", signedOn: "tanggal kontrak", endsOn: "tanggal selesai",
    startsOn: "tanggal mulai", paidOn: "tanggal bayar", method: "metode", version: "versi",
    code: "kode", mak: "mak", payeeTaxId: "NPWP penerima", taxId: "NPWP", achieved: "capaian",
    physicalPercent: "progres fisik (%)", financialPercent: "realisasi keuangan (%)",
    // A package's versions and a tender's schedule, named through their parent's field.
    versions: "pagu versi RUP", schedule: "jadwal tender", budgetRows: "mak paket",
    packages: "paket RUP", fiscalYear: "tahun", sp2dNumber: "nomor SP2D", number: "nomor",
    name: "nama", status: "status", stage: "tahap", accountCode: "kode rekening",
    kind: "jenis", payee: "penerima", contract: "kontrak", tender: "tender", bids: "penawaran",
    isWinner: "pemenang", vendor: "penyedia", winner: "pemenang", period: "periode",
    problems: "permasalahan", target: "target", description: "uraian", opd: "OPD",
    activity: "kegiatan", subActivity: "sub kegiatan", provenance: "asal data",
    procurementMethod: "metode", reason: "alasan", handoverOn: "tanggal BAST",
    severity: "tingkat", message: "pesan", resolvedAt: "selesai", evidence: "bukti",
    state: "keadaan", followUp: "tindak lanjut", dueOn: "batas waktu", assignee: "OPD",
    datedOn: "tanggal surat",
  };
  function fieldName(field) { return FIELD_NAMES[field] || null; }
  // Evidence under "versions" gives the pagu of the version it means.
  var MONEY_FIELDS = ["amount", "ceiling", "value", "originalValue", "ownerEstimate",
    "plannedAmount", "correctedAmount", "versions"];

  var state = {
    year: null, route: null, lastRows: {}, refreshing: null, again: false,
    key: window.localStorage.getItem("rantai-key") || "", viewer: null,
  };

  // ------------------------------------------------------------------ helpers

  function esc(text) {
    return String(text == null ? "" : text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function num(value) {
    var n = Number(value);
    return isFinite(n) ? n : 0;
  }
  function rupiah(value) {
    var n = num(value);
    var abs = Math.abs(n);
    var fmt = function (x) {
      return x.toLocaleString("id-ID", { maximumFractionDigits: 1, minimumFractionDigits: 1 });
    };
    if (abs >= 1e12) return "Rp " + fmt(n / 1e12) + " T";
    if (abs >= 1e9) return "Rp " + fmt(n / 1e9) + " M";
    if (abs >= 1e6) return "Rp " + fmt(n / 1e6) + " jt";
    return "Rp " + n.toLocaleString("id-ID", { maximumFractionDigits: 0 });
  }
  function rupiahFull(value) {
    return "Rp " + num(value).toLocaleString("id-ID", { maximumFractionDigits: 0 });
  }
  function percent(value) {
    if (value == null) return "—";
    return num(value).toLocaleString("id-ID", { maximumFractionDigits: 1 }) + "%";
  }
  function badge(count) {
    var n = num(count);
    return '<span class="badge ' + (n ? "some" : "zero") + '" data-open="' + n + '">' + n + "</span>";
  }

  function graphql(query, variables) {
    var headers = { "Content-Type": "application/json", Accept: "application/graphql-response+json" };
    if (state.key) headers.Authorization = "Bearer " + state.key;
    return fetch("/graphql", {
      method: "POST",
      headers: headers,
      body: JSON.stringify({ query: query, variables: variables || {} }),
    })
      .then(function (r) { return r.json(); })
      .then(function (body) {
        if (body.errors && body.errors.length) {
          var e = body.errors[0];
          throw new Error(e.message + (e.extensions && e.extensions.code ? " (" + e.extensions.code + ")" : ""));
        }
        // What the API hid from this viewer (the public: ketimpangan rows, DPA lines…).
        Object.defineProperty(body.data, "hidden", {
          value: (body.extensions && body.extensions.hidden) || [],
        });
        return body.data;
      });
  }

  // A summary of several (OPDs of the province government): sums, progress weighted by DPA.
  function combine(summaries) {
    var out = { subActivities: 0, openDiscrepancies: 0, physicalPercent: null };
    STAGES.forEach(function (s) { out[s[2]] = 0; });
    var weight = 0, weighted = 0;
    summaries.forEach(function (s) {
      out.subActivities += num(s.subActivities);
      out.openDiscrepancies += num(s.openDiscrepancies);
      STAGES.forEach(function (st) { out[st[2]] += num(s[st[2]]); });
      if (s.physicalPercent != null) {
        weight += num(s.allocated);
        weighted += num(s.allocated) * num(s.physicalPercent);
      }
    });
    if (weight > 0) out.physicalPercent = weighted / weight;
    return out;
  }

  // Figures that add up: a total is the sum of its rows (physical progress is a weighted
  // average, not a sum). What a total holds beyond its rows (ketimpangan with no OPD) gets a
  // row of its own, so every column adds up on the page.
  var ADDITIVE = ["subActivities", "plannedAmount", "allocated", "procurementCeiling", "contracted",
    "paid", "openDiscrepancies"];

  function beyond(total, parts) {
    var out = { physicalPercent: null };
    ADDITIVE.forEach(function (k) {
      var v = num(total[k]);
      parts.forEach(function (p) { v -= num(p[k]); });
      v = Math.round(v * 100) / 100;
      out[k] = Math.abs(v) < 0.005 ? 0 : v;
    });
    return out;
  }

  function withoutOpdRow(total, rows) {
    var rest = beyond(total, rows.map(function (r) { return r.summary; }));
    var any = ADDITIVE.some(function (k) { return rest[k] !== 0; });
    return any ? [{ key: "tanpa-opd", name: "Tanpa OPD", sub: "ketimpangan tanpa OPD",
      href: null, summary: rest }] : [];
  }

  function allZero(s) {
    return ADDITIVE.every(function (k) { return !num(s[k]); });
  }

  // ------------------------------------------------------------------ the chain picture

  function chainSvg(s, big) {
    var width = big ? 560 : 180, label = big ? 80 : 0, value = big ? 110 : 0;
    var bar = big ? 18 : 4, gap = big ? 8 : 1;
    var span = width - label - value;
    var max = Math.max.apply(null, STAGES.map(function (st) { return num(s[st[2]]); }).concat([1]));
    var rows = STAGES.map(function (st) { return [st[0], st[1], num(s[st[2]]) / max, rupiah(s[st[2]])]; });
    rows.push(["physical", "Fisik", num(s.physicalPercent) / 100, percent(s.physicalPercent)]);
    var height = rows.length * (bar + gap);
    var parts = rows.map(function (r, i) {
      var y = i * (bar + gap);
      var w = Math.max(0, Math.min(1, r[2])) * span;
      var title = "<title>" + esc(r[1] + ": " + r[3]) + "</title>";
      var out = '<rect class="' + r[0] + '" x="' + label + '" y="' + y + '" width="' + w.toFixed(1) +
        '" height="' + bar + '" rx="2" fill="var(--' + r[0] + ')">' + title + "</rect>";
      if (big) {
        out += '<text x="0" y="' + (y + bar - 5) + '">' + esc(r[1]) + "</text>";
        out += '<text x="' + (label + w + 6).toFixed(1) + '" y="' + (y + bar - 5) + '">' + esc(r[3]) + "</text>";
      }
      return out;
    });
    return '<svg class="chain" role="img" aria-label="Rantai: ' +
      esc(rows.map(function (r) { return r[1] + " " + r[3]; }).join(", ")) + '" width="' + width +
      '" height="' + height + '" viewBox="0 0 ' + width + " " + height + '">' + parts.join("") + "</svg>";
  }

  function figures(s) {
    var items = STAGES.map(function (st) {
      return '<div class="figure ' + st[0] + '" data-figure="' + st[0] + '" data-value="' +
        esc(String(s[st[2]])) + '"><small>' + st[1] +
        '</small><b title="' + esc(rupiahFull(s[st[2]])) + '">' + rupiah(s[st[2]]) + "</b></div>";
    });
    items.push('<div class="figure physical" data-figure="physical"><small>Progres fisik</small><b>' +
      percent(s.physicalPercent) + "</b></div>");
    items.push('<div class="figure open" data-figure="open" data-value="' + num(s.openDiscrepancies) +
      '"><small>Ketimpangan terbuka</small><b>' + num(s.openDiscrepancies) + "</b></div>");
    items.push('<div class="figure subs" data-figure="subActivities" data-value="' +
      num(s.subActivities) + '"><small>Sub kegiatan</small><b>' + num(s.subActivities) + "</b></div>");
    return '<div class="figures">' + items.join("") + "</div>";
  }

  function card(title, subtitle, s) {
    return '<div class="card"><h1>' + esc(title) + "</h1>" +
      (subtitle ? '<div class="muted">' + esc(subtitle) + "</div>" : "") +
      figures(s) + '<div class="chain-block">' + chainSvg(s, true) + "</div></div>";
  }

  function table(kind, rows, firstHeader) {
    var head = "<tr><th>" + firstHeader + "</th><th>Sub keg.</th>" +
      STAGES.map(function (st) { return "<th>" + st[1] + "</th>"; }).join("") +
      "<th>Fisik</th><th>Rantai</th><th>Ketimpangan</th></tr>";
    var previous = state.lastRows[kind] || {};
    var current = {};
    var body = rows.map(function (r) {
      var s = r.summary;
      var signature = JSON.stringify(s);
      current[r.key] = signature;
      var changed = previous[r.key] !== undefined && previous[r.key] !== signature;
      var first = r.href
        ? "<a href=\"" + esc(r.href) + '">' + esc(r.name) + "</a>"
        : "<span>" + esc(r.name) + "</span>";
      return "<tr data-" + kind + '="' + esc(r.key) + '"' + (r.href ? ' data-href="' + esc(r.href) + '"' : "") +
        (changed ? ' class="flash"' : "") + "><td>" + first +
        "<span class=\"sub\">" + esc(r.sub || "") + '</span></td><td data-col="subActivities" data-value="' +
        num(s.subActivities) + '">' + num(s.subActivities) + "</td>" +
        STAGES.map(function (st) {
          return '<td data-col="' + st[0] + '" data-value="' + esc(String(s[st[2]])) + '" title="' +
            esc(rupiahFull(s[st[2]])) + '">' + rupiah(s[st[2]]) + "</td>";
        }).join("") +
        '<td data-col="physical">' + percent(s.physicalPercent) + '</td><td class="chain">' + chainSvg(s, false) +
        "</td><td>" + badge(s.openDiscrepancies) + "</td></tr>";
    });
    state.lastRows[kind] = current;
    return "<table><thead>" + head + "</thead><tbody>" + body.join("") + "</tbody></table>";
  }

  // "Unduh Excel" / "Unduh CSV" for a list: /export/{view}.xlsx|.csv with the filters of the
  // GraphQL field the list shows, fetched with the viewer's key (a plain link cannot send it).
  function downloads(view, params) {
    var qs = Object.keys(params).filter(function (k) { return params[k] != null; }).map(function (k) {
      return encodeURIComponent(k) + "=" + encodeURIComponent(params[k]);
    }).join("&");
    return ' <span class="downloads">' + [["xlsx", "Unduh Excel"], ["csv", "Unduh CSV"]].map(function (f) {
      return '<button type="button" class="download" data-export="' + esc(view + "." + f[0] + "?" + qs) + '">' +
        f[1] + "</button>";
    }).join("") + "</span>";
  }

  function download(button) {
    var headers = {};
    if (state.key) headers.Authorization = "Bearer " + state.key;
    button.disabled = true;
    return fetch("/export/" + button.getAttribute("data-export"), { headers: headers }).then(function (r) {
      if (!r.ok) return r.json().then(function (body) { throw new Error(body.errors[0].message); });
      var name = (r.headers.get("Content-Disposition") || "").match(/filename="([^"]+)"/);
      return r.blob().then(function (blob) {
        var a = document.createElement("a");
        a.href = URL.createObjectURL(blob);
        a.download = name ? name[1] : "rantai-unduhan";
        document.body.appendChild(a);
        a.click();
        setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
      });
    }).catch(function (err) {
      window.alert("Gagal mengunduh: " + err.message);
    }).then(function () { button.disabled = false; });
  }

  function discrepancyList(title, connection, hidden, open, exportParams, list) {
    var edges = connection.edges;
    if (hidden) {
      return "<h2>" + esc(title) + '</h2><p class="public-notice" data-hidden="discrepancies">' +
        (num(open) ? num(open) + " ketimpangan terbuka (lihat angka di atas)." : "") +
        " Rinciannya (aturan, OPD, sub kegiatan, bukti) hanya tampil dengan kunci API: " +
        "masukkan kunci di kanan atas. Tanpa kunci Anda melihat tampilan publik: rantai " +
        "yang dipublikasikan dan semua ringkasan, tanpa baris DPA, SP2D, e-Monev dan NPWP.</p>";
    }
    var links = exportParams ? downloads("ketimpangan", exportParams) : "";
    if (!edges.length) {
      return "<h2>" + esc(title) + links + '</h2><p class="muted">Tidak ada ketimpangan terbuka.</p>';
    }
    var items = edges.map(function (e) {
      var d = e.node;
      var where = [d.opd ? d.opd.name : null, d.subActivity ? "sub kegiatan " + d.subActivity.code : null]
        .filter(Boolean).join(" · ");
      var evidence = d.evidence.map(function (v) {
        var shown = v.value;
        if (shown != null && MONEY_FIELDS.indexOf(v.field) >= 0 && /^-?\d+(\.\d+)?$/.test(shown)) {
          shown = rupiahFull(shown);
        }
        return "<li>" + esc(ENTITY_NAMES[v.entity] || "Data") +
          (fieldName(v.field) ? " · " + esc(fieldName(v.field)) : "") +
          (shown != null ? ": <b>" + esc(shown) + "</b>" : "") + "</li>";
      });
      return '<div class="discrepancy ' + esc(d.severity) + '" data-rule="' + esc(d.rule) + '"' +
        (d.id ? ' data-id="' + esc(d.id) + '"' : "") + "><header>" +
        '<span class="badge ' + esc(d.severity) + '">' + esc(SEVERITY[d.severity] || d.severity) + "</span>" +
        "<b>" + esc(d.message) + "</b></header>" +
        '<div class="muted"><code>' + esc(d.rule) + "</code> · " + esc(d.region.name) +
        (where ? " · " + esc(where) : "") + " · terdeteksi " +
        esc(new Date(d.detectedAt).toLocaleDateString("id-ID")) + "</div>" +
        "<ul>" + evidence.join("") + "</ul>" + (fu.sees() ? fu.item(d, list || "list") : "") + "</div>";
    });
    var more = connection.totalCount > edges.length
      ? '<p class="muted">… dan ' + (connection.totalCount - edges.length) + " lainnya.</p>" : "";
    return "<h2>" + esc(title) + " (" + connection.totalCount + ")" + links + "</h2>" + items.join("") + more;
  }

  var FINDING = "rule severity message detectedAt region { name } opd { code name } subActivity { code name }" +
    " evidence { entity field value }";
  // Ketimpangan with their tindak lanjut for those who may see it (never the public viewer).
  function findingFields() { return FINDING + (fu.sees() ? fu.fields : ""); }
  function discrepancies(variables) {
    return graphql("query ($filter: DiscrepancyFilter, $first: Int) {" +
      " discrepancies(filter: $filter, first: $first) { totalCount edges { node { " + findingFields() +
      " } } } }", variables);
  }
  function section(id, html) { fu.replace(document.getElementById(id), html); }
  function clearExtras() { section("followups", ""); section("agenda", ""); }

  // ------------------------------------------------------------------ views

  function crumbs(items) {
    document.getElementById("crumbs").innerHTML = items.map(function (c, i) {
      return i === items.length - 1 ? "<b>" + esc(c[0]) + "</b>" : '<a href="' + esc(c[1]) + '">' + esc(c[0]) + "</a>";
    }).join('<span class="sep">›</span>');
  }

  function followUps() {
    return fu.sees() ? " followUps(fiscalYear: $fy) { " + fu.summary + " }" : "";
  }

  // An OPD's tindak lanjut: what it must answer, and answers waiting for the assigner.
  function inbox(opd, found) {
    var list = function (title, edges, name, none) {
      if (!edges.length) return "<h2>" + esc(title) + ' (0)</h2><p class="muted">' + none + "</p>";
      return discrepancyList(title, { totalCount: edges.length, edges: edges }, false, 0, null, name);
    };
    var mine = state.viewer && state.viewer.role === "opd";
    return '<div data-fu-inbox><p class="muted" data-fu-total>Tindak lanjut OPD ini: ' +
      esc(fu.line(opd.followUps)) + "</p>" +
      list(mine ? "Harus dijawab OPD ini" : "Menunggu jawaban OPD ini", found.owed, "owed",
        "Tidak ada yang harus dijawab.") +
      list("Jawaban menunggu tinjauan", found.answered, "answered", "Tidak ada jawaban yang menunggu.") +
      "</div>";
  }

  function showHome() {
    // Every Pemda's summary and every OPD's follow-ups; OPD summaries only for the
    // province's own OPDs (its row counts them alone), not for 700 OPDs of every Pemda.
    var q = "query ($fy: Int!) { regions { code name level parent { code }" +
      " summary(fiscalYear: $fy) { " + SUMMARY + " }" + followUps() +
      " opds(first: 500) { edges { node { code name" + followUps() + " } } } }" +
      " own: regions(level: PROVINCE) { code opds(first: 500) { edges { node {" +
      " summary(fiscalYear: $fy) { " + SUMMARY + " } } } } } }";
    return Promise.all([
      graphql(q, { fy: state.year }),
      discrepancies({ filter: { fiscalYear: state.year, open: true, severity: "CRITICAL" }, first: 10 }),
    ]).then(function (res) {
      var regions = res[0].regions;
      var ownOpds = {};
      res[0].own.forEach(function (r) { ownOpds[r.code] = r.opds.edges; });
      var province = regions.filter(function (r) { return r.level === "PROVINCE"; })[0] || regions[0];
      crumbs([[province ? province.name : "Provinsi", "#/"]]);
      var rows = regions.map(function (r) {
        var own = r.level === "PROVINCE";
        return {
          key: r.code,
          name: own ? "Pemerintah " + r.name : r.name,
          sub: own ? "OPD provinsi saja" : r.code,
          href: "#/r/" + r.code,
          summary: own ? combine((ownOpds[r.code] || []).map(function (e) { return e.node.summary; })) : r.summary,
        };
      });
      document.getElementById("total").innerHTML = province
        ? card(province.name + " — tahun " + state.year, "Seluruh Pemda: provinsi dan " +
            (regions.length - 1) + " kabupaten/kota", province.summary)
        : "";
      // Pemda whose systems sent nothing for this year are named, not tabled as zeros.
      var silent = rows.filter(function (r) { return allZero(r.summary); });
      rows = rows.filter(function (r) { return !allZero(r.summary); });
      if (province) rows = rows.concat(withoutOpdRow(province.summary, rows));
      document.getElementById("table").innerHTML = "<h2>Pemda" + downloads("pemda", { fiscalYear: state.year }) +
        "</h2>" + table("region", rows, "Pemda") +
        (silent.length ? '<p class="muted" data-silent="' + silent.length + '">Belum ada data tahun ' +
          state.year + " dari " + silent.length + " Pemda: " +
          esc(silent.map(function (r) { return r.name; }).join(", ")) + ".</p>" : "");
      section("discrepancies", discrepancyList("Ketimpangan kritis terbaru",
        res[1].discrepancies, isHidden(res[1]), province && province.summary.openDiscrepancies,
        { fiscalYear: state.year, open: "true", severity: "CRITICAL" }));
      // The governor's question: which OPD, of every Pemda, is stuck and does not answer.
      var opdRows = [];
      regions.forEach(function (r) {
        r.opds.edges.forEach(function (e) {
          opdRows.push({ key: r.code + "/" + e.node.code, name: e.node.name, sub: r.name,
            href: "#/r/" + r.code + "/o/" + e.node.code, followUps: e.node.followUps });
        });
      });
      section("followups", fu.sees() && province
        ? fu.ranking("Tindak lanjut per OPD (seluruh Pemda)", province.followUps, opdRows) : "");
      section("agenda", "");
    });
  }

  function isHidden(data) { return (data.hidden || []).indexOf("discrepancies") >= 0; }

  function showRegion(code) {
    var q = "query ($code: String!, $fy: Int!) { region(code: $code) { code name level" +
      " parent { code name } summary(fiscalYear: $fy) { " + SUMMARY + " }" + followUps() +
      " opds(first: 500) { edges { node { code name summary(fiscalYear: $fy) { " + SUMMARY + " }" +
      followUps() + " } } } }" +
      // A province's summary includes its regencies: theirs, to leave the province's own.
      " regions(level: REGENCY) { parent { code } summary(fiscalYear: $fy) { " + SUMMARY + " } } }";
    return Promise.all([
      graphql(q, { code: code, fy: state.year }),
      discrepancies({ filter: { fiscalYear: state.year, open: true, regionCode: code }, first: 20 }),
    ]).then(function (res) {
      var region = res[0].region;
      if (!region) throw new Error("Pemda " + code + " tidak dikenal.");
      var own = region.level === "PROVINCE";
      var opds = region.opds.edges.map(function (e) { return e.node; });
      var summary = region.summary;
      if (own) {
        var children = res[0].regions.filter(function (r) { return r.parent && r.parent.code === code; });
        summary = beyond(region.summary, children.map(function (r) { return r.summary; }));
        summary.physicalPercent = combine(opds.map(function (o) { return o.summary; })).physicalPercent;
      }
      crumbs([["Provinsi", "#/"], [region.name, "#/r/" + code]]);
      document.getElementById("total").innerHTML =
        card((own ? "Pemerintah " : "") + region.name + " — tahun " + state.year, opds.length + " OPD", summary);
      var rows = opds.map(function (o) {
        return { key: o.code, name: o.name, sub: o.code, href: "#/r/" + code + "/o/" + o.code, summary: o.summary };
      });
      rows = rows.concat(withoutOpdRow(summary, rows));
      document.getElementById("table").innerHTML = "<h2>OPD" +
        downloads("opd", { fiscalYear: state.year, regionCode: code }) + "</h2>" + table("opd", rows, "OPD");
      section("discrepancies", discrepancyList(
        "Ketimpangan terbuka" + (own ? " (termasuk kabupaten/kota)" : ""), res[1].discrepancies,
        isHidden(res[1]), region.summary.openDiscrepancies,
        { fiscalYear: state.year, open: "true", regionCode: code }));
      section("followups", fu.sees() ? fu.ranking("Tindak lanjut per OPD" +
        (own ? " (angka Pemda termasuk kabupaten/kota)" : ""), region.followUps, opds.map(function (o) {
        return { key: o.code, name: o.name, sub: o.code, href: "#/r/" + code + "/o/" + o.code,
          followUps: o.followUps };
      })) : "");
      section("agenda", "");
    });
  }

  function showOpd(code, opdCode) {
    var q = "query ($code: String!, $opd: String!, $fy: Int!) { opd(regionCode: $code, code: $opd) {" +
      " code name region { code name } summary(fiscalYear: $fy) { " + SUMMARY + " }" + followUps() +
      " subActivities(fiscalYear: $fy, first: 200) { totalCount edges { node { code name stage" +
      " plannedAmount budget { allocated paid } discrepancies { rule resolvedAt } } } } } }";
    return Promise.all([
      graphql(q, { code: code, opd: opdCode, fy: state.year }),
      discrepancies({
        filter: { fiscalYear: state.year, open: true, regionCode: code, opdCode: opdCode }, first: 100,
      }),
      fu.sees() ? fu.inboxOf(code, opdCode, findingFields()) : null,
      fu.agendaOf(code, opdCode),
    ]).then(function (res) {
      var opd = res[0].opd;
      if (!opd) throw new Error("OPD " + opdCode + " tidak dikenal di " + code + ".");
      crumbs([["Provinsi", "#/"], [opd.region.name, "#/r/" + code], [opd.name, "#/r/" + code + "/o/" + opdCode]]);
      document.getElementById("total").innerHTML =
        card(opd.name + " — tahun " + state.year, opd.region.name + " · " + opd.code, opd.summary);
      var subs = opd.subActivities.edges.map(function (e) { return e.node; });
      var previous = state.lastRows.sub || {};
      var current = {};
      var body = subs.map(function (s) {
        var open = s.discrepancies.filter(function (d) { return !d.resolvedAt; }).length;
        var signature = JSON.stringify([s.plannedAmount, s.budget, s.stage, open]);
        current[s.code] = signature;
        var changed = previous[s.code] !== undefined && previous[s.code] !== signature;
        return '<tr data-sub="' + esc(s.code) + '"' + (changed ? ' class="flash"' : "") + "><td>" + esc(s.name) +
          '<span class="sub">' + esc(s.code) + "</span></td><td>" + esc(STAGE_NAMES[s.stage] || s.stage) +
          '</td><td data-col="planned">' + rupiah(s.plannedAmount) + '</td><td data-col="allocated">' +
          rupiah(s.budget.allocated) + '</td><td data-col="paid">' + rupiah(s.budget.paid) + "</td><td>" +
          badge(open) + "</td></tr>";
      });
      state.lastRows.sub = current;
      document.getElementById("table").innerHTML = "<h2>Sub kegiatan (" + opd.subActivities.totalCount + ")" +
        downloads("sub-kegiatan", { fiscalYear: state.year, regionCode: code, opdCode: opdCode }) + "</h2>" +
        "<table><thead><tr><th>Sub kegiatan</th><th>Tahap</th><th>Rencana</th><th>DPA</th><th>Realisasi</th>" +
        "<th>Ketimpangan</th></tr></thead><tbody>" + body.join("") + "</tbody></table>";
      section("discrepancies", discrepancyList("Ketimpangan terbuka",
        res[1].discrepancies, isHidden(res[1]), opd.summary.openDiscrepancies,
        { fiscalYear: state.year, open: "true", regionCode: code, opdCode: opdCode }));
      section("followups", res[2] ? inbox(opd, res[2]) : "");
      section("agenda", res[3]);
    });
  }

  function route() {
    var hash = location.hash.replace(/^#\/?/, "");
    var m = hash.match(/^r\/([^/]+)(?:\/o\/(.+))?$/);
    if (m && m[2]) return { view: "opd", code: decodeURIComponent(m[1]), opd: decodeURIComponent(m[2]) };
    if (m) return { view: "region", code: decodeURIComponent(m[1]) };
    return { view: "home" };
  }

  function render() {
    var r = route();
    var key = JSON.stringify(r);
    if (key !== state.route) state.lastRows = {};  // no flashing when the view changed
    state.route = key;
    var shown = whoAmI().then(function () {
      return r.view === "opd" ? showOpd(r.code, r.opd) : r.view === "region" ? showRegion(r.code) : showHome();
    });
    return shown.then(function () {
      document.body.setAttribute("data-ready", String(Date.now()));
    }, function (err) {
      document.getElementById("table").innerHTML = '<p class="error">Gagal memuat data: ' + esc(err.message) + "</p>";
      clearExtras();
    });
  }

  // The role and scope of the key (what the page offers: "Tugaskan", the answer form…).
  function whoAmI() {
    if (state.viewer && state.viewer.key === state.key) return Promise.resolve(state.viewer);
    return graphql("{ viewer { role regionCode opdCode authenticated } }").then(function (data) {
      state.viewer = data.viewer;
      state.viewer.key = state.key;
      var who = document.getElementById("who");
      who.textContent = state.key ? "dengan kunci " + state.key.slice(0, 11) + "… (" + fu.role() + ")" : "publik";
      return state.viewer;
    });
  }

  // One refresh at a time; changes during one ask for one more afterwards.
  function refresh() {
    if (state.refreshing) { state.again = true; return; }
    state.refreshing = setTimeout(function () {
      render().then(function () {
        state.refreshing = null;
        if (state.again) { state.again = false; refresh(); }
      });
    }, 300);
  }

  // ------------------------------------------------------------------ live updates

  function note(text, cls) {
    var feed = document.getElementById("feed");
    var muted = feed.querySelector(".muted");
    if (muted) muted.remove();
    var li = document.createElement("li");
    if (cls) li.className = cls;
    li.textContent = new Date().toLocaleTimeString("id-ID") + " · " + text;
    feed.insertBefore(li, feed.firstChild);
    while (feed.children.length > 30) feed.removeChild(feed.lastChild);
  }

  function live() {
    var cursor = null, retry = 0, socket = null;
    var badgeEl = document.getElementById("live");
    var CHANGES = "subscription ($filter: ChangeFilter, $after: String) { changes(filter: $filter, after: $after)" +
      " { cursor entity op regionCode opdCode changedFields count fiscalYear } }";
    var EVENTS = "subscription ($filter: DiscrepancyFilter) { discrepancyEvents(filter: $filter)" +
      " { raised followUpChanged discrepancy { rule severity message region { name }" +
      " followUp { state assignee { name } } } } }";
    function status(on) {
      badgeEl.className = "live " + (on ? "on" : "off");
      badgeEl.textContent = on ? "Langsung" : "Terputus";
      document.body.setAttribute("data-live", on ? "on" : "off");
    }
    function connect() {
      var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/graphql";
      socket = new WebSocket(url, "graphql-transport-ws");
      socket.onopen = function () {
        var init = { type: "connection_init" };
        if (state.key) init.payload = { Authorization: "Bearer " + state.key };
        socket.send(JSON.stringify(init));
      };
      socket.onmessage = function (m) {
        var msg = JSON.parse(m.data);
        if (msg.type === "connection_ack") {
          retry = 0;
          status(true);
          socket.send(JSON.stringify({ id: "changes", type: "subscribe", payload: {
            query: CHANGES, variables: { filter: { fiscalYear: state.year }, after: cursor } } }));
          // Ketimpangan events need a key: the public viewer would be refused (FORBIDDEN).
          if (state.key) {
            socket.send(JSON.stringify({ id: "discrepancies", type: "subscribe", payload: {
              query: EVENTS, variables: { filter: { fiscalYear: state.year } } } }));
          }
          if (cursor) refresh();  // reconnected: catch up on what the page shows
        } else if (msg.type === "ping") {
          socket.send(JSON.stringify({ type: "pong" }));
        } else if (msg.type === "next" && msg.payload.data) {
          if (msg.id === "changes") {
            var c = msg.payload.data.changes;
            cursor = c.cursor;
            var named = c.changedFields.map(fieldName).filter(Boolean);
            // A first load is one line for all its rows (a baseline, not one change each).
            if (c.op === "LOADED") note((ENTITY_NAMES[c.entity] || "Data") + " dimuat: " +
              (c.count || 0).toLocaleString("id-ID") + " baris" + (c.regionCode ? " · " + c.regionCode : "") +
              (c.fiscalYear ? " · " + c.fiscalYear : ""));
            else note((ENTITY_NAMES[c.entity] || "Data") + " " + (OPS[c.op] || "berubah") +
              (c.regionCode ? " · " + c.regionCode : "") +
              (c.op === "UPDATED" && named.length ? " (" + named.slice(0, 3).join(", ") + ")" : ""));
          } else {
            var d = msg.payload.data.discrepancyEvents;
            var f = d.discrepancy.followUp;
            if (d.followUpChanged && f) {
              note("Tindak lanjut " + (fu.states[f.state] || f.state).toLowerCase() + " · OPD " +
                f.assignee.name + ": " + d.discrepancy.message, "followup");
            } else {
              note((d.raised ? "Ketimpangan baru: " : "Ketimpangan selesai: ") + d.discrepancy.message,
                d.raised ? "raised" : "resolved");
            }
          }
          refresh();
        } else if (msg.type === "error" && msg.id === "changes") {
          cursor = null;  // e.g. CURSOR_EXPIRED: reload and follow from now
          socket.close();
        }
      };
      socket.onclose = function () {
        status(false);
        setTimeout(connect, Math.min(10000, 500 * Math.pow(2, retry++)));
      };
    }
    state.restartLive = function () { cursor = null; if (socket) socket.close(); };
    connect();
  }

  var fu = window.RantaiFollowUp({ esc: esc, graphql: graphql, state: state, refresh: refresh, note: note });

  // ------------------------------------------------------------------ start

  function start() {
    var params = new URLSearchParams(location.search);
    var now = new Date().getFullYear();
    state.year = Number(params.get("tahun")) || now;
    var select = document.getElementById("year");
    [now + 1, now, now - 1, now - 2].forEach(function (y) {
      var o = document.createElement("option");
      o.value = String(y);
      o.textContent = String(y);
      if (y === state.year) o.selected = true;
      select.appendChild(o);
    });
    if (!select.value) {
      var o = document.createElement("option");
      o.value = o.textContent = String(state.year);
      o.selected = true;
      select.appendChild(o);
    }
    select.addEventListener("change", function () {
      state.year = Number(select.value);
      params.set("tahun", select.value);
      history.replaceState(null, "", "?" + params.toString() + location.hash);
      state.lastRows = {};
      render();
      if (state.restartLive) state.restartLive();
    });
    document.getElementById("table").addEventListener("click", function (ev) {
      var tr = ev.target.closest("tr[data-href]");
      if (tr && !ev.target.closest("a")) location.hash = tr.getAttribute("data-href");
    });
    fu.bind(document.querySelector("main"));
    document.querySelector("main").addEventListener("click", function (ev) {
      var button = ev.target.closest("button[data-export]");
      if (button) download(button);
    });
    window.addEventListener("hashchange", render);
    var who = document.getElementById("who");
    who.textContent = state.key ? "dengan kunci " + state.key.slice(0, 11) + "…" : "publik";
    document.getElementById("login").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var input = document.getElementById("key");
      state.key = input.value.trim();
      input.value = "";
      if (state.key) window.localStorage.setItem("rantai-key", state.key);
      else window.localStorage.removeItem("rantai-key");
      who.textContent = state.key ? "dengan kunci " + state.key.slice(0, 11) + "…" : "publik";
      state.lastRows = {};
      render();
      if (state.restartLive) state.restartLive();
    });
    render();
    live();
  }

  start();
})();
