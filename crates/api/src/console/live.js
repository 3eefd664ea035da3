// Cairn console: adds reports to the open list as the node stores them (the page works without
// this script; it only saves a reload). Text is set with textContent, never parsed as markup.
(function () {
  "use strict";
  var table = document.querySelector("table[data-live]");
  if (!table || !window.EventSource) {
    return;
  }
  var body = table.querySelector("tbody");
  var status = document.getElementById("live-status");
  var source = new EventSource("/ui/live");
  function cell(row, tag, text) {
    var c = document.createElement(tag);
    c.textContent = text;
    row.appendChild(c);
    return c;
  }
  source.addEventListener("report", function (event) {
    var report;
    try {
      report = JSON.parse(event.data);
    } catch (e) {
      return;
    }
    var row = document.createElement("tr");
    var title = cell(row, "th", "");
    title.scope = "row";
    var link = document.createElement("a");
    link.href = "/ui/reports/" + encodeURIComponent(report.id);
    link.textContent = report.title;
    title.appendChild(link);
    var tlp = cell(row, "td", "");
    var badge = document.createElement("span");
    badge.className = "tlp " + report.tlp_class;
    badge.textContent = report.tlp;
    tlp.appendChild(badge);
    cell(row, "td", report.kind);
    cell(row, "td", report.author);
    cell(row, "td", report.created);
    cell(row, "td", String(report.indicators));
    body.insertBefore(row, body.firstChild);
    if (status) {
      status.textContent = "New report: " + report.title;
    }
  });
})();
