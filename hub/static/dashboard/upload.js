// Form A upload by an OPD operator: POST /upload/monev with the key given in "Kunci API"
// (or kept from an earlier visit); the answer is shown as it comes: accepted, already
// received, or every problem of the workbook with its sheet, row and column.
(function () {
  "use strict";
  const form = document.getElementById("upload");
  const input = document.getElementById("upload-file");
  const result = document.getElementById("upload-result");
  if (!form || !input || !result) return;

  function key() {
    const typed = document.getElementById("key");
    return (typed && typed.value.trim()) || window.localStorage.getItem("rantai-key") || "";
  }

  function show(kind, text, problems) {
    result.replaceChildren();
    result.className = "upload-" + kind;
    const p = document.createElement("p");
    p.textContent = text;
    result.appendChild(p);
    if (problems && problems.length) {
      const list = document.createElement("ul");
      list.className = "upload-problems";
      for (const problem of problems) {
        const item = document.createElement("li");
        item.textContent = problem.message || problem.reason || String(problem);
        list.appendChild(item);
      }
      result.appendChild(list);
    }
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    const file = input.files && input.files[0];
    if (!file) {
      show("error", "Pilih berkas Form A (.xlsx) dulu.");
      return;
    }
    const body = new FormData();
    body.append("file", file, file.name);
    const headers = {};
    const k = key();
    if (k) headers.Authorization = "Bearer " + k;
    show("busy", "Mengunggah dan memeriksa " + file.name + " …");
    let response;
    try {
      response = await fetch("/upload/monev", { method: "POST", body: body, headers: headers });
    } catch (err) {
      show("error", "Hub tidak dapat dihubungi: " + err);
      return;
    }
    let answer = {};
    try {
      answer = await response.json();
    } catch (err) {
      answer = {};
    }
    if (response.status === 201) {
      const u = answer.upload || {};
      show("ok", "Diterima: " + u.rows + " baris dari " + u.fileName + "; sinkronisasi dimulai.");
    } else if (response.ok && answer.status === "DUPLICATE") {
      show("ok", answer.message || "Berkas ini sudah diterima sebelumnya.");
    } else {
      const error = (answer.errors && answer.errors[0]) || {};
      const problems = (error.extensions && error.extensions.problems) || [];
      show("error", error.message || "Unggahan ditolak (HTTP " + response.status + ").", problems);
    }
  });
})();
