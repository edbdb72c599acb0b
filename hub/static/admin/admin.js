// Rantai's operators' console: sources and "sync now", API keys, the audit log, the compiled
// path's declines. Built only on the GraphQL API (`admin` and its mutations) with a key of
// role admin; anyone else gets 403 and no data. No framework, nothing from other hosts.
(function () {
  "use strict";

  var STORAGE = "rantai-admin-key";
  var state = { key: window.localStorage.getItem(STORAGE) || "", auditBefore: [] };

  function esc(text) {
    return String(text == null ? "" : text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function when(value) {
    return value ? new Date(value).toLocaleString("id-ID") : "—";
  }
  function number(value) {
    return Number(value || 0).toLocaleString("id-ID");
  }
  // One idempotency key per action: a retry after a lost answer changes nothing twice.
  function idempotencyKey() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return String(Date.now()) + "-" + Math.random().toString(16).slice(2);
  }

  function Refused(status, message, code) {
    this.status = status;
    this.message = message;
    this.code = code;
  }

  function graphql(query, variables) {
    var headers = { "Content-Type": "application/json", Accept: "application/graphql-response+json" };
    if (state.key) headers.Authorization = "Bearer " + state.key;
    var body = JSON.stringify({ query: query, variables: variables || {} });
    var send = function () { return fetch("/graphql", { method: "POST", headers: headers, body: body }); };
    return send()
      .catch(function () { return send(); })  // once more on a lost connection: same key, same effect
      .then(function (r) {
        return r.json().then(function (answer) { return { status: r.status, body: answer }; });
      })
      .then(function (res) {
        var errors = res.body.errors || [];
        if (errors.length) {
          var e = errors[0];
          throw new Refused(res.status, e.message, e.extensions && e.extensions.code);
        }
        return res.body.data;
      });
  }

  function notice(html, bad) {
    document.getElementById("notice").innerHTML = html
      ? '<div class="notice' + (bad ? " bad" : "") + '">' + html + "</div>" : "";
  }

  function failed(err) {
    if (err instanceof Refused && err.status === 403) {
      document.getElementById("page").innerHTML = "";
      notice("<b>403 — ditolak.</b> Konsol ini hanya untuk kunci peran <code>admin</code>" +
        (state.key ? "; kunci ini bukan kunci admin." : ". Masukkan kunci admin di kanan atas.") +
        ' <span class="muted">(' + esc(err.message) + ")</span>", true);
      document.body.setAttribute("data-denied", "403");
      return;
    }
    notice("Gagal: " + esc(err.message) + (err.code ? " (" + esc(err.code) + ")" : ""), true);
  }

  // ------------------------------------------------------------------ sources

  var SOURCES = "{ admin { sources { id name kind status stale lastSyncedAt lastSuccessAt lastError rows" +
    " waiting { entity reason rows since }" +
    " verification { at seconds ok unreachable missing extra different } }" +
    " syncRequests(first: 10) { id sourceId requestedBy requestedAt startedAt finishedAt outcome } } }";
  var SYNC = "mutation ($source: String, $idem: String) { requestSync(sourceId: $source, idempotencyKey: $idem)" +
    " { new request { id sourceId } } }";

  function showSources() {
    return graphql(SOURCES).then(function (data) {
      var rows = data.admin.sources.map(function (s) {
        var waiting = s.waiting.length
          ? "<ul>" + s.waiting.map(function (w) {
              return "<li>" + number(w.rows) + " baris " + esc(w.entity) + ": " + esc(w.reason) +
                ' <span class="muted">(sejak ' + when(w.since) + ")</span></li>";
            }).join("") + "</ul>"
          : '<span class="muted">tidak ada</span>';
        var v = s.verification;
        var verified = !v ? '<span class="muted">belum pernah</span>' :
          '<span class="' + (v.ok ? "ok" : "error") + '">' + (v.ok ? "cocok" : v.unreachable ?
            "sumber tak terjangkau" : number(v.missing) + " hilang, " + number(v.extra) + " lebih, " +
            number(v.different) + " berbeda") + '</span><br><span class="muted">' + when(v.at) + " · " +
          v.seconds.toFixed(1) + " dtk</span>";
        return '<tr data-source="' + esc(s.id) + '"><td><b>' + esc(s.id) + "</b><br><span class=\"muted\">" +
          esc(s.name) + " · " + esc(s.kind) + '</span></td><td class="status ' + esc(s.status) + '">' +
          esc(s.status) + (s.stale ? '<br><span class="muted">basi</span>' : "") + "</td><td>" +
          when(s.lastSuccessAt) + '<br><span class="muted">terakhir dicoba ' + when(s.lastSyncedAt) +
          '</span></td><td class="num">' + number(s.rows) + "</td><td>" + waiting + '</td><td data-verification>' + verified + '</td><td class="error">' +
          esc(s.lastError || "") + '</td><td><button type="button" data-sync="' + esc(s.id) +
          '">Sinkron sekarang</button></td></tr>';
      });
      var requests = data.admin.syncRequests.map(function (r) {
        var status = r.finishedAt ? "selesai " + when(r.finishedAt) : r.startedAt ? "berjalan" :
          "menunggu proses sinkron";
        return '<tr data-request="' + esc(r.id) + '"><td>' + esc(r.id) + "</td><td>" +
          esc(r.sourceId || "semua sumber") + "</td><td>" + esc(r.requestedBy) + "<br>" + when(r.requestedAt) +
          '</td><td data-state="' + (r.finishedAt ? "done" : r.startedAt ? "running" : "waiting") + '">' +
          esc(status) + "</td><td>" + esc(r.outcome || "") + "</td></tr>";
      });
      document.getElementById("page").innerHTML =
        '<h1>Sumber data</h1><p><button type="button" data-sync="">Sinkron semua sekarang</button> ' +
        '<span class="muted">Dijalankan oleh proses yang menyinkronkan (rantai serve --sync-every, ' +
        "rantai demo).</span></p>" +
        "<table><thead><tr><th>Sumber</th><th>Status</th><th>Terakhir berhasil</th>" +
        '<th class="num">Baris</th><th>Baris tertunda</th><th>Verifikasi (rantai verify)</th><th>Galat terakhir</th><th></th></tr></thead><tbody>' +
        rows.join("") + "</tbody></table><h2>Permintaan sinkron</h2>" +
        (requests.length ? "<table><thead><tr><th>No.</th><th>Sumber</th><th>Diminta</th><th>Keadaan</th>" +
          "<th>Hasil</th></tr></thead><tbody>" + requests.join("") + "</tbody></table>"
          : '<p class="muted">Belum ada permintaan.</p>');
    });
  }

  function syncNow(source) {
    return graphql(SYNC, { source: source || null, idem: idempotencyKey() }).then(function (data) {
      var r = data.requestSync;
      notice(r.new ? "Permintaan sinkron no. " + esc(r.request.id) + " dicatat." :
        "Permintaan yang sama (no. " + esc(r.request.id) + ") masih menunggu; tidak digandakan.");
      return showSources();
    });
  }

  // ------------------------------------------------------------------ keys

  var KEYS = "{ admin { keys { prefix role regionCode opdCode label createdAt revokedAt } } }";
  var CREATE = "mutation ($input: CreateApiKeyInput!, $idem: String) { createApiKey(input: $input," +
    " idempotencyKey: $idem) { key apiKey { prefix role } } }";
  var REVOKE = "mutation ($prefix: String!, $idem: String) { revokeApiKey(prefix: $prefix," +
    " idempotencyKey: $idem) { apiKey { prefix revokedAt } } }";

  function showKeys(created) {
    return graphql(KEYS).then(function (data) {
      var rows = data.admin.keys.map(function (k) {
        var scope = [k.regionCode, k.opdCode].filter(Boolean).join(" / ") || "—";
        var active = !k.revokedAt;
        return '<tr data-key="' + esc(k.prefix) + '"><td><code>' + esc(k.prefix) + "</code></td><td>" +
          esc(k.role) + "</td><td>" + esc(scope) + "</td><td>" + esc(k.label || "") + "</td><td>" +
          when(k.createdAt) + '</td><td data-state="' + (active ? "active" : "revoked") + '">' +
          (active ? "aktif" : "dicabut " + when(k.revokedAt)) + "</td><td>" +
          (active && k.role !== "admin" ? '<button type="button" data-revoke="' + esc(k.prefix) +
            '">Cabut</button>' : "") + "</td></tr>";
      });
      document.getElementById("page").innerHTML = "<h1>Kunci API</h1>" +
        (created ? '<div class="notice"><b>Kunci baru ' + esc(created.apiKey.prefix) +
          "</b> — simpan sekarang, kunci ini tidak ditampilkan lagi:" +
          '<div class="secret" id="new-key">' + esc(created.key) + "</div></div>" : "") +
        '<form class="inline" id="create"><label>Peran<select name="role">' +
        '<option value="province">province (semua)</option><option value="regency">regency (satu Pemda)</option>' +
        '<option value="opd">opd (satu OPD)</option><option value="public">public</option></select></label>' +
        '<label>Kode Pemda<input name="region" placeholder="53.01" /></label>' +
        '<label>Kode OPD<input name="opd" placeholder="1.02.0.00.0.00.01.0000" /></label>' +
        '<label>Untuk<input name="label" placeholder="Aplikasi Kab. Kupang" /></label>' +
        '<button type="submit">Buat kunci</button></form>' +
        '<p class="muted">Kunci admin hanya dibuat di baris perintah: <code>rantai keys create --role admin</code>.</p>' +
        "<table><thead><tr><th>Awalan</th><th>Peran</th><th>Cakupan</th><th>Untuk</th><th>Dibuat</th>" +
        "<th>Keadaan</th><th></th></tr></thead><tbody>" + rows.join("") + "</tbody></table>";
    });
  }

  function createKey(form) {
    var input = {
      role: form.role.value,
      regionCode: form.region.value.trim() || null,
      opdCode: form.opd.value.trim() || null,
      label: form.label.value.trim() || null,
    };
    return graphql(CREATE, { input: input, idem: idempotencyKey() }).then(function (data) {
      notice("");
      return showKeys(data.createApiKey);
    });
  }

  function revokeKey(prefix) {
    if (!window.confirm("Cabut kunci " + prefix + "? Kunci ini langsung berhenti bekerja.")) return Promise.resolve();
    return graphql(REVOKE, { prefix: prefix, idem: idempotencyKey() }).then(function () {
      notice("Kunci " + esc(prefix) + " dicabut.");
      return showKeys(null);
    });
  }

  // ------------------------------------------------------------------ audit log

  var AUDIT = "query ($before: ID) { admin { auditLog(first: 50, before: $before) { hasMore before" +
    " records { id at kind actor detail } } } }";
  var VERIFY = "{ admin { auditVerification { checked intact problems { record reason } } } }";

  function showAudit() {
    var before = state.auditBefore.length ? state.auditBefore[state.auditBefore.length - 1] : null;
    return graphql(AUDIT, { before: before }).then(function (data) {
      var page = data.admin.auditLog;
      var rows = page.records.map(function (r) {
        return '<tr data-record="' + esc(r.id) + '"><td class="num">' + esc(r.id) + "</td><td>" + when(r.at) +
          "</td><td>" + esc(r.kind) + "</td><td>" + esc(r.actor) + '</td><td><code class="detail">' +
          esc(r.detail) + "</code></td></tr>";
      });
      document.getElementById("page").innerHTML = "<h1>Log audit</h1>" +
        '<p><button type="button" id="verify">Periksa rantai audit</button> <span id="verified"></span></p>' +
        "<table><thead><tr><th class=\"num\">No.</th><th>Waktu</th><th>Jenis</th><th>Pelaku</th><th>Rincian</th>" +
        "</tr></thead><tbody>" + rows.join("") + "</tbody></table><p>" +
        (state.auditBefore.length ? '<button type="button" id="newer">← Lebih baru</button> ' : "") +
        (page.hasMore ? '<button type="button" id="older" data-before="' + esc(page.before) +
          '">Lebih lama →</button>' : "") + "</p>";
    });
  }

  function verifyAudit() {
    var out = document.getElementById("verified");
    out.textContent = "memeriksa…";
    return graphql(VERIFY).then(function (data) {
      var v = data.admin.auditVerification;
      out.setAttribute("data-intact", String(v.intact));
      out.innerHTML = v.intact
        ? "<b>Utuh</b>: " + number(v.checked) + " catatan diperiksa, tidak ada yang diubah, dihapus atau ditukar."
        : '<b class="error">Rusak</b>: ' + v.problems.map(function (p) {
            return "catatan " + esc(p.record) + ": " + esc(p.reason);
          }).join("; ");
    });
  }

  // ------------------------------------------------------------------ compiled path

  var DECLINES = "{ admin { compiledDeclines { reason count } } }";

  function showDeclines() {
    return graphql(DECLINES).then(function (data) {
      var rows = data.admin.compiledDeclines.map(function (d) {
        return '<tr data-reason="' + esc(d.reason) + '"><td>' + esc(d.reason) + '</td><td class="num">' +
          number(d.count) + "</td></tr>";
      });
      document.getElementById("page").innerHTML = "<h1>Jalur terkompilasi</h1>" +
        '<p class="muted">Permintaan yang dijawab resolver, bukan satu pernyataan SQL terkompilasi, menurut ' +
        "alasannya, sejak proses ini mulai (per proses).</p>" +
        (rows.length ? '<table><thead><tr><th>Alasan</th><th class="num">Permintaan</th></tr></thead><tbody>' +
          rows.join("") + "</tbody></table>" : '<p class="muted">Belum ada yang ditolak.</p>');
    });
  }

  // ------------------------------------------------------------------ routing

  var PAGES = { sumber: showSources, kunci: function () { return showKeys(null); }, audit: showAudit,
    kompilasi: showDeclines };

  function current() {
    var name = location.hash.replace(/^#\/?/, "");
    return PAGES[name] ? name : "sumber";
  }

  function render() {
    var name = current();
    document.body.removeAttribute("data-ready");
    document.body.removeAttribute("data-denied");
    Array.prototype.forEach.call(document.querySelectorAll("#tabs a"), function (a) {
      a.className = a.getAttribute("data-page") === name ? "active" : "";
    });
    return PAGES[name]().then(function () {
      document.body.setAttribute("data-ready", name);
    }, failed);
  }

  function act(promise) {
    return promise.then(function () { document.body.setAttribute("data-ready", current()); }, failed);
  }

  document.getElementById("page").addEventListener("click", function (ev) {
    var t = ev.target;
    if (t.hasAttribute("data-sync")) act(syncNow(t.getAttribute("data-sync")));
    else if (t.hasAttribute("data-revoke")) act(revokeKey(t.getAttribute("data-revoke")));
    else if (t.id === "verify") act(verifyAudit());
    else if (t.id === "older") { state.auditBefore.push(t.getAttribute("data-before")); act(showAudit()); }
    else if (t.id === "newer") { state.auditBefore.pop(); act(showAudit()); }
  });
  document.getElementById("page").addEventListener("submit", function (ev) {
    if (ev.target.id === "create") {
      ev.preventDefault();
      act(createKey(ev.target));
    }
  });

  function who() {
    document.getElementById("who").textContent = state.key ? "kunci " + state.key.slice(0, 11) + "…" : "tanpa kunci";
  }
  document.getElementById("login").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var input = document.getElementById("key");
    state.key = input.value.trim();
    input.value = "";
    if (state.key) window.localStorage.setItem(STORAGE, state.key);
    else window.localStorage.removeItem(STORAGE);
    who();
    notice("");
    render();
  });
  document.getElementById("logout").addEventListener("click", function () {
    state.key = "";
    window.localStorage.removeItem(STORAGE);
    who();
    render();
  });
  window.addEventListener("hashchange", function () { state.auditBefore = []; notice(""); render(); });
  who();
  render();
})();
