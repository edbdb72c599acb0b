// Tindak lanjut on the dashboard: "Tugaskan" on every ketimpangan for the offices that may
// assign (province, inspektorat, regency), the OPD's answer form, the assigner's review, the
// ranking of OPD by overdue follow-ups and by response time, and the OPD's agenda.
// dashboard.js calls window.RantaiFollowUp(api) with its helpers; everything here goes
// through the GraphQL mutations assignDiscrepancy, respondToDiscrepancy and
// reviewDiscrepancyResponse, and the page follows their events live.
(function () {
  "use strict";

  var STATES = {
    ASSIGNED: "Ditugaskan", ANSWERED: "Dijawab", RETURNED: "Dikembalikan",
    ACCEPTED: "Diterima", CLOSED: "Ditutup otomatis",
  };
  var AGENDA_KINDS = {
    TENDER_STAGE: "Tahap tender", CONTRACT_END: "Akhir kontrak", MONEV_DEADLINE: "Batas Form A",
    FOLLOW_UP_DUE: "Batas tindak lanjut", DPA_MILESTONE: "Target realisasi DPA",
  };
  var ROLES = { province: "provinsi", inspector: "inspektorat", regency: "Pemda", opd: "OPD" };
  var FIELDS = " id region { code name } followUp { id state version dueOn overdue" +
    " assignee { code name } actions { kind role note at references { kind value } } }";
  var SUMMARY = "assigned awaiting answered accepted overdue medianDaysToAnswer";

  var ASSIGN = "mutation ($input: AssignDiscrepancyInput!, $idem: String) {" +
    " assignDiscrepancy(input: $input, idempotencyKey: $idem) { followUp { state } } }";
  var RESPOND = "mutation ($input: RespondToDiscrepancyInput!, $idem: String) {" +
    " respondToDiscrepancy(input: $input, idempotencyKey: $idem) { followUp { state } } }";
  var REVIEW = "mutation ($input: ReviewDiscrepancyResponseInput!, $idem: String) {" +
    " reviewDiscrepancyResponse(input: $input, idempotencyKey: $idem) { followUp { state } } }";

  function day(iso) {
    return new Date(iso + (iso.length === 10 ? "T00:00:00Z" : "")).toLocaleDateString("id-ID",
      { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
  }
  // Due dates are days in the province's time (hub/reference/clock.py: WITA, UTC+8, no
  // summer time; tests/test_agenda.py holds the two in step), not the browser's or UTC's:
  // before 08:00 WITA the UTC day is still yesterday.
  var PROVINCE_OFFSET_MS = 8 * 3600 * 1000;
  function isoDay(offset) {
    var d = new Date(Date.now() + PROVINCE_OFFSET_MS);
    d.setUTCDate(d.getUTCDate() + offset);
    return d.toISOString().slice(0, 10);
  }
  function days(value) {
    if (value == null) return "—";
    return Number(value).toLocaleString("id-ID", { maximumFractionDigits: 1 }) + " hari";
  }
  function idem() {
    return "dasbor-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 10);
  }

  window.RantaiFollowUp = function (api) {
    var esc = api.esc, state = api.state;
    var opdLists = {};  // Pemda code → its OPD, for the "Tugaskan" form

    function viewer() { return state.viewer || { role: "public" }; }
    function sees() {
      var role = viewer().role;
      return role !== "public" && role !== "metrics";
    }
    function covers(regionCode) {
      var v = viewer();
      if (v.role === "province" || (v.role === "inspector" && !v.regionCode)) return true;
      if (v.role !== "inspector" && v.role !== "regency") return false;
      return !!v.regionCode && (regionCode === v.regionCode || regionCode.indexOf(v.regionCode + ".") === 0);
    }
    function mayAssign(d) {
      return covers(d.region.code) && (!d.followUp || d.followUp.state === "CLOSED");
    }
    function mayReview(d) { return d.followUp && d.followUp.state === "ANSWERED" && covers(d.region.code); }
    function mayAnswer(d) {
      var v = viewer(), f = d.followUp;
      return v.role === "opd" && f && (f.state === "ASSIGNED" || f.state === "RETURNED") &&
        f.assignee.code === v.opdCode && d.region.code === v.regionCode;
    }

    // ------------------------------------------------------------ a finding's follow-up

    function lastOf(f, kind) {
      var found = null;
      f.actions.forEach(function (a) { if (a.kind === kind) found = a; });
      return found;
    }

    function item(d, list) {
      var slot = list + ":" + d.id;
      var f = d.followUp;
      var out = '<div class="fu" data-fu-state="' + esc(f ? f.state : "NONE") + '">';
      if (f) {
        out += '<div><span class="fu-state ' + esc(f.state) + '">' + esc(STATES[f.state] || f.state) +
          "</span> OPD <b>" + esc(f.assignee.name) + "</b> · batas " + esc(day(f.dueOn)) +
          (f.overdue ? ' · <b class="late">terlambat</b>' : "") + "</div>";
        var answer = lastOf(f, "ANSWERED");
        if (answer && f.state !== "ASSIGNED") {
          var refs = answer.references.map(function (r) { return r.value; });
          out += '<div class="fu-answer">Jawaban: ' + esc(answer.note || "") +
            (refs.length ? ' <span class="muted">(rujukan: ' + esc(refs.join(", ")) + ")</span>" : "") +
            "</div>";
        }
        var back = lastOf(f, "RETURNED");
        if (f.state === "RETURNED" && back) {
          out += '<div class="fu-answer">Dikembalikan: ' + esc(back.note || "") + "</div>";
        }
      }
      var buttons = [];
      if (mayAssign(d)) buttons.push('<button type="button" data-fu="assign">Tugaskan</button>');
      if (mayAnswer(d)) buttons.push('<button type="button" data-fu="answer">Jawab</button>');
      if (mayReview(d)) {
        buttons.push('<button type="button" data-fu="accept">Terima</button>');
        buttons.push('<button type="button" data-fu="return">Kembalikan</button>');
      }
      if (buttons.length) out += '<div class="fu-buttons">' + buttons.join("") + "</div>";
      return out + '<div class="fu-slot" data-slot="' + esc(slot) + '" data-id="' + esc(d.id) +
        '" data-version="' + (f ? f.version : 0) + '" data-region="' + esc(d.region.code) +
        '" data-opd="' + esc(d.opd ? d.opd.code : "") + '"></div></div>';
    }

    function opdsOf(regionCode) {
      if (!opdLists[regionCode]) {
        opdLists[regionCode] = api.graphql("query ($code: String!) { region(code: $code) {" +
          " opds(first: 500) { edges { node { code name } } } } }", { code: regionCode })
          .then(function (data) {
            return data.region ? data.region.opds.edges.map(function (e) { return e.node; }) : [];
          }, function (err) { delete opdLists[regionCode]; throw err; });
      }
      return opdLists[regionCode];
    }

    function form(slot, kind) {
      // The version the form was opened on: a change meanwhile makes its answer CONFLICT.
      var html = '<form class="fu-form" data-kind="' + kind + '" data-for="' +
        esc(slot.getAttribute("data-slot")) + '" data-version="' + esc(slot.getAttribute("data-version")) + '">';
      if (kind === "assign") {
        html += '<label>OPD <select name="opd" required><option value="">memuat…</option></select></label>' +
          '<label>Batas waktu <input name="due" type="date" required min="' + isoDay(0) +
          '" value="' + isoDay(14) + '" /></label>' +
          '<label class="wide">Catatan <textarea name="note" rows="2" required ' +
          'placeholder="Apa yang harus dijelaskan OPD"></textarea></label>' +
          '<button type="submit">Tugaskan</button>';
      } else if (kind === "answer") {
        html += '<label class="wide">Penjelasan <textarea name="explanation" rows="3" required></textarea></label>' +
          '<label>Nomor surat <input name="letters" placeholder="pisahkan dengan koma" /></label>' +
          '<label>Tautan <input name="links" placeholder="https://…" /></label>' +
          '<button type="submit">Kirim jawaban</button>';
      } else {
        html += '<label class="wide">Catatan pengembalian <textarea name="note" rows="2" required></textarea></label>' +
          '<label>Batas baru <input name="due" type="date" min="' + isoDay(0) + '" /></label>' +
          '<button type="submit">Kembalikan</button>';
      }
      html += ' <button type="button" data-fu="cancel">Batal</button><div class="fu-result" aria-live="polite"></div></form>';
      slot.innerHTML = html;
      var first = slot.querySelector("textarea");
      if (kind === "assign") {
        var select = slot.querySelector("select");
        var own = slot.getAttribute("data-opd");
        opdsOf(slot.getAttribute("data-region")).then(function (opds) {
          select.innerHTML = '<option value="">— pilih OPD —</option>' + opds.map(function (o) {
            return '<option value="' + esc(o.code) + '"' + (o.code === own ? " selected" : "") + ">" +
              esc(o.name) + "</option>";
          }).join("");
        }, function (err) { show(slot.querySelector("form"), "Gagal memuat OPD: " + err.message, true); });
      }
      if (first) first.focus();
    }

    function show(formEl, text, bad) {
      var out = formEl.querySelector(".fu-result");
      out.className = "fu-result " + (bad ? "error" : "ok");
      out.textContent = text;
    }

    function list(value) {
      return value.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
    }

    // A live refresh may have moved the form into a new slot since: on success the form
    // itself goes (or the slot's content, for Terima, which has no form).
    function send(slot, document_, input, done, formEl) {
      input.discrepancyId = slot.getAttribute("data-id");
      input.version = Number((formEl || slot).getAttribute("data-version"));
      return api.graphql(document_, { input: input, idem: idem() }).then(function () {
        if (formEl) formEl.remove();
        else slot.innerHTML = "";
        api.note(done, "followup");
        api.refresh();
      });
    }

    function submit(formEl) {
      var slot = formEl.closest(".fu-slot");
      var kind = formEl.getAttribute("data-kind");
      var v = function (name) { var el = formEl.elements[name]; return el ? el.value.trim() : ""; };
      var sent;
      if (kind === "assign") {
        if (!v("opd")) { show(formEl, "Pilih OPD yang harus menjelaskan.", true); return; }
        sent = send(slot, ASSIGN, { opdCode: v("opd"), dueOn: v("due"), note: v("note") },
          "Tindak lanjut ditugaskan.", formEl);
      } else if (kind === "answer") {
        sent = send(slot, RESPOND, { explanation: v("explanation"), letters: list(v("letters")),
          links: list(v("links")) }, "Jawaban terkirim.", formEl);
      } else {
        sent = send(slot, REVIEW, { accept: false, note: v("note"), dueOn: v("due") || null },
          "Jawaban dikembalikan.", formEl);
      }
      var buttons = formEl.querySelectorAll("button");
      buttons.forEach(function (b) { b.disabled = true; });
      show(formEl, "Mengirim…", false);
      sent.catch(function (err) {
        buttons.forEach(function (b) { b.disabled = false; });
        show(formEl, "Gagal: " + err.message, true);
      });
    }

    function bind(root) {
      root.addEventListener("click", function (ev) {
        var button = ev.target.closest("button[data-fu]");
        if (!button) return;
        var slot = button.closest(".fu").querySelector(".fu-slot");
        var what = button.getAttribute("data-fu");
        if (what === "cancel") { button.closest("form").remove(); return; }
        if (what === "accept") {
          button.disabled = true;
          send(slot, REVIEW, { accept: true }, "Jawaban diterima.").catch(function (err) {
            button.disabled = false;
            slot.innerHTML = '<p class="error">Gagal: ' + esc(err.message) + "</p>";
          });
          return;
        }
        form(slot, what);
      });
      root.addEventListener("submit", function (ev) {
        var formEl = ev.target.closest("form.fu-form");
        if (!formEl) return;
        ev.preventDefault();
        submit(formEl);
      });
    }

    // Replace a section's HTML, keeping the forms being filled in (a live refresh must not
    // throw away what someone is typing).
    function replace(el, html) {
      var open = {};
      var focused = document.activeElement;
      el.querySelectorAll("form.fu-form").forEach(function (f) { open[f.getAttribute("data-for")] = f; });
      el.innerHTML = html;
      el.querySelectorAll(".fu-slot").forEach(function (slot) {
        var kept = open[slot.getAttribute("data-slot")];
        if (kept) { slot.innerHTML = ""; slot.appendChild(kept); }
      });
      if (focused && el.contains(focused) && focused.focus) focused.focus();
    }

    // ------------------------------------------------------------ rankings and the agenda

    function summaryLine(s) {
      if (!s || !s.assigned) return "belum ada yang ditugaskan";
      return s.assigned + " ditugaskan · " + s.awaiting + " menunggu jawaban · " + s.overdue +
        " terlambat · " + s.answered + " dijawab · " + s.accepted + " diterima · median " +
        days(s.medianDaysToAnswer) + " untuk menjawab";
    }

    function rankTable(kind, rows) {
      var body = rows.slice(0, 10).map(function (r, i) {
        var s = r.followUps;
        return '<tr data-fu-opd="' + esc(r.key) + '"><td>' + (i + 1) + ". " +
          (r.href ? '<a href="' + esc(r.href) + '">' + esc(r.name) + "</a>" : esc(r.name)) +
          '<span class="sub">' + esc(r.sub || "") + '</span></td><td data-col="overdue" data-value="' +
          s.overdue + '">' + s.overdue + '</td><td data-col="awaiting" data-value="' + s.awaiting + '">' +
          s.awaiting + '</td><td data-col="answered" data-value="' + s.answered + '">' + s.answered +
          '</td><td data-col="accepted" data-value="' + s.accepted + '">' + s.accepted +
          '</td><td data-col="median" data-value="' + (s.medianDaysToAnswer == null ? "" : s.medianDaysToAnswer) +
          '">' + (s.medianDaysToAnswer == null ? (s.awaiting ? "belum menjawab" : "—") : days(s.medianDaysToAnswer)) +
          "</td></tr>";
      });
      return '<table class="rank" data-rank="' + kind + '"><thead><tr><th>OPD</th><th>Terlambat</th>' +
        "<th>Menunggu</th><th>Dijawab</th><th>Diterima</th><th>Median menjawab</th></tr></thead><tbody>" +
        body.join("") + "</tbody></table>";
    }

    // OPD rows ({key, name, sub, href, followUps}) ranked twice: by overdue follow-ups, and
    // by response time (those that never answered what they owe first).
    function ranking(title, total, rows) {
      rows = rows.filter(function (r) { return r.followUps && r.followUps.assigned; });
      var head = "<h2>" + esc(title) + '</h2><p class="muted" data-fu-total>' + esc(summaryLine(total)) + "</p>";
      if (!rows.length) return head;
      var byOverdue = rows.slice().sort(function (a, b) {
        return b.followUps.overdue - a.followUps.overdue || b.followUps.awaiting - a.followUps.awaiting ||
          a.name.localeCompare(b.name);
      });
      var slowness = function (s) {
        if (s.medianDaysToAnswer == null) return s.awaiting ? Infinity : -1;
        return s.medianDaysToAnswer;
      };
      var bySpeed = rows.slice().sort(function (a, b) {
        return slowness(b.followUps) - slowness(a.followUps) || b.followUps.awaiting - a.followUps.awaiting ||
          a.name.localeCompare(b.name);
      });
      return head + '<div class="ranks"><div><h3>Paling banyak terlambat</h3>' + rankTable("overdue", byOverdue) +
        '</div><div><h3>Paling lambat menjawab</h3>' + rankTable("response", bySpeed) + "</div></div>";
    }

    function agenda(items) {
      var head = "<h2>Agenda 30 hari ke depan</h2>";
      if (!items.length) return head + '<p class="muted">Tidak ada agenda 30 hari ke depan.</p>';
      return head + '<ol class="agenda">' + items.map(function (i) {
        return '<li data-kind="' + esc(i.kind) + '" data-date="' + esc(i.date) + '"' + (i.late ? ' class="late"' : "") + "><time>" +
          esc(day(i.date)) + "</time> <b>" + esc(AGENDA_KINDS[i.kind] || "Agenda") + "</b> " + esc(i.title) +
          (i.late ? ' <span class="late">terlambat</span>' : "") + "</li>";
      }).join("") + "</ol>";
    }

    var AGENDA = "query ($code: String!, $opd: String, $from: Date!, $to: Date!) {" +
      " agenda(regionCode: $code, opdCode: $opd, from: $from, to: $to) { kind date title late } }";

    function agendaOf(code, opdCode) {
      return api.graphql(AGENDA, { code: code, opd: opdCode, from: isoDay(0), to: isoDay(30) })
        .then(function (data) { return agenda(data.agenda); });
    }

    // What an OPD must answer (its assigned and returned follow-ups) and what waits for the
    // assigner's review, as ketimpangan lists.
    var INBOX_STATES = ["ASSIGNED", "RETURNED", "ANSWERED"];
    function inboxOf(code, opdCode, fields) {
      var parts = INBOX_STATES.map(function (s) {
        return s.toLowerCase() + ": discrepancies(filter: { fiscalYear: $fy, regionCode: $code," +
          " followUpState: " + s + " }, first: 200) { edges { node { " + fields + " } } }";
      });
      return api.graphql("query ($fy: Int!, $code: String!) { " + parts.join(" ") + " }",
        { fy: state.year, code: code }).then(function (data) {
        var mine = function (s) {
          return data[s.toLowerCase()].edges.filter(function (e) {
            return e.node.followUp && e.node.followUp.assignee.code === opdCode;
          });
        };
        return { owed: mine("ASSIGNED").concat(mine("RETURNED")), answered: mine("ANSWERED") };
      });
    }

    function role() {
      var v = viewer();
      return (ROLES[v.role] || v.role) + (v.regionCode ? " " + v.regionCode : "") +
        (v.opdCode ? " / " + v.opdCode : "");
    }

    return {
      fields: FIELDS, summary: SUMMARY, sees: sees, item: item, bind: bind, replace: replace,
      ranking: ranking, line: summaryLine, agendaOf: agendaOf, inboxOf: inboxOf, role: role, states: STATES,
    };
  };
})();
