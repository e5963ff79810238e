// The fleet list: every meter served, searchable, each opening its panel.
"use strict";
(function () {
  const token = new URLSearchParams(location.search).get("token");
  const query = token ? "?token=" + encodeURIComponent(token) : "";
  const $ = (id) => document.getElementById(id);
  let meters = [];
  function show() {
    const needle = $("search").value.trim().toLowerCase();
    const tbody = $("meters");
    tbody.textContent = "";
    const hits = meters.filter((m) => !needle || [m.serial, m.manufacturer, m.model].some((v) => v.toLowerCase().includes(needle)));
    for (const m of hits.slice(0, 500)) {
      const tr = document.createElement("tr");
      const a = document.createElement("a");
      a.href = "/meter/" + encodeURIComponent(m.serial) + query;
      a.textContent = m.serial;
      const first = document.createElement("td"); first.appendChild(a); tr.appendChild(first);
      for (const v of [m.manufacturer, m.model, m.status.powered ? "on" : "off", m.status.relay_closed ? "closed" : "open", m.status.cover_open ? "open" : "closed"]) {
        const td = document.createElement("td"); td.textContent = v; tr.appendChild(td);
      }
      tbody.appendChild(tr);
    }
    $("count").textContent = hits.length + " of " + meters.length;
  }
  $("search").addEventListener("input", show);
  fetch("/api/meters" + query).then((r) => r.json()).then((data) => { meters = data; show(); });
})();
