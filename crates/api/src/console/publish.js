// Cairn console: shows who would receive the report being written, as the analyst types (the
// form works without this script: its Preview button asks the same of the node). Text is set
// with textContent, never parsed as markup.
(function () {
  "use strict";
  var form = document.getElementById("publish-form");
  var body = document.getElementById("preview-body");
  if (!form || !body || !window.fetch || !window.URLSearchParams || !window.FormData) {
    return;
  }
  var timer = null;
  var asked = 0;
  function clear() {
    while (body.firstChild) {
      body.removeChild(body.firstChild);
    }
  }
  function paragraph(text, problem) {
    var p = document.createElement("p");
    if (problem) {
      p.className = "problem";
      p.setAttribute("role", "alert");
    }
    p.textContent = text;
    body.appendChild(p);
  }
  function show(answer) {
    clear();
    if (answer.problem) {
      paragraph(answer.problem.field + ": " + answer.problem.message, true);
      return;
    }
    var warnings = answer.warnings || [];
    if (warnings.length) {
      var note = document.createElement("div");
      note.className = "warnings";
      note.setAttribute("role", "note");
      var intro = document.createElement("p");
      intro.textContent =
        "On warning lists (known benign or reserved: is it what you meant?):";
      note.appendChild(intro);
      var list = document.createElement("ul");
      warnings.forEach(function (text) {
        var item = document.createElement("li");
        item.textContent = text;
        list.appendChild(item);
      });
      note.appendChild(list);
      body.appendChild(note);
    }
    var decisions = answer.decisions || [];
    if (decisions.length === 0) {
      paragraph("No partner in the trust list: it would go to nobody.", false);
      return;
    }
    var table = document.createElement("table");
    table.className = "sharing";
    table.createCaption().textContent =
      "What this node's sharing rules would decide for each partner if it were published now";
    var head = table.createTHead().insertRow();
    ["Partner", "Receives it", "Why"].forEach(function (text) {
      var th = document.createElement("th");
      th.scope = "col";
      th.textContent = text;
      head.appendChild(th);
    });
    var rows = table.createTBody();
    decisions.forEach(function (d) {
      var row = rows.insertRow();
      var partner = document.createElement("th");
      partner.scope = "row";
      partner.textContent = d.partner;
      row.appendChild(partner);
      row.insertCell().textContent = d.receives
        ? (d.withheld.length ? "yes (without " + d.withheld.join(", ") + ")" : "yes")
        : "no";
      row.insertCell().textContent = d.reason;
    });
    body.appendChild(table);
  }
  function ask() {
    var n = ++asked;
    var data = new URLSearchParams(new FormData(form));
    data.delete("action");
    fetch("/ui/publish/preview", {
      method: "POST",
      body: data,
      credentials: "same-origin",
      redirect: "manual"
    })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("no preview");
        }
        return response.json();
      })
      .then(function (answer) {
        if (n === asked) {
          show(answer);
        }
      })
      .catch(function () {
        if (n === asked) {
          clear();
          paragraph("No preview: the session may have ended. Sign in again, or press Preview.", true);
        }
      });
  }
  function soon() {
    if (timer) {
      clearTimeout(timer);
    }
    timer = setTimeout(ask, 300);
  }
  form.addEventListener("input", soon);
  form.addEventListener("change", soon);
})();
