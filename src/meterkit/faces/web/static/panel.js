// The meter's front panel: state from the server-sent events of /api/meters/SERIAL/stream, controls via the REST API.
"use strict";
(function () {
  const serial = decodeURIComponent(location.pathname.split("/").filter(Boolean)[1] || "");
  const token = new URLSearchParams(location.search).get("token");
  const query = token ? "?token=" + encodeURIComponent(token) : "";
  const $ = (id) => document.getElementById(id);
  const state = { display: [], index: 0, steppedAt: 0, status: null, registers: {}, samples: [], windowMin: 15 };

  $("fleet-link").href = "/" + query;
  const saved = localStorage.getItem("meterkit.threshold." + serial);
  if (saved !== null) $("threshold").value = saved;
  $("threshold").addEventListener("change", () => {
    localStorage.setItem("meterkit.threshold." + serial, $("threshold").value);
    draw();
  });

  function say(text, error) {
    $("message").textContent = text;
    $("message").className = "message" + (error ? " error" : "");
  }

  async function control(action, body) {
    const headers = { "Content-Type": "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    try {
      const response = await fetch("/api/meters/" + encodeURIComponent(serial) + "/" + action, {
        method: "POST", headers, body: JSON.stringify(body),
      });
      const data = await response.json();
      if (!response.ok) say(data.error || response.statusText, true);
      else say(data.result, false);
    } catch (err) {
      say(String(err), true);
    }
  }

  // --- controls ------------------------------------------------------------------------------------------------
  $("cover-btn").addEventListener("click", () => control("cover", { open: !(state.status && state.status.cover_open) }));
  $("seal-btn").addEventListener("click", () => control("button", { kind: "seal" }));
  $("reset-btn").addEventListener("click", () => control("button", { kind: "reset" }));
  $("supply-btn").addEventListener("click", () => control("supply", { on: !(state.status && state.status.powered) }));
  $("step").addEventListener("click", () => { state.index += 1; state.steppedAt = Date.now(); showLcd(); });
  for (const phase of [1, 2, 3]) {
    const slider = $("load-" + phase);
    slider.addEventListener("input", () => { $("load-" + phase + "-out").textContent = slider.value + " A"; });
    slider.addEventListener("change", () => {
      const phases = (state.status && state.status.phases) || [];
      const voltage = phases[phase - 1] && phases[phase - 1].voltage_v > 0 ? phases[phase - 1].voltage_v : 230;
      slider.dataset.userUntil = String(Date.now() + 3000);
      control("load", { phase, voltage_v: voltage, current_a: Number(slider.value), angle_deg: 0 });
    });
  }

  // --- LCD -----------------------------------------------------------------------------------------------------
  function lcdText(r) {
    if (r.address === "0.9.1" && r.text.length === 6) return r.text.replace(/(..)(..)(..)/, "$1:$2:$3");
    if (r.address === "0.9.2" && r.text.length === 6) return r.text.replace(/(..)(..)(..)/, "$1-$2-$3");
    return r.text;
  }
  function showLcd() {
    if (!state.display.length) return;
    const r = state.display[state.index % state.display.length];
    $("lcd-addr").textContent = r.address;
    $("lcd-value").textContent = state.status && !state.status.powered ? "" : lcdText(r);
    $("lcd-unit").textContent = r.unit;
  }
  setInterval(() => { if (Date.now() - state.steppedAt > 10000) { state.index += 1; showLcd(); } }, 4000);

  // --- numbers -------------------------------------------------------------------------------------------------
  function kw(r) {
    if (!r || typeof r.value !== "number") return null;
    const unit = r.unit.replace(/VA$|var$/, "W");
    return unit === "W" ? r.value / 1000 : unit === "MW" ? r.value * 1000 : r.value;
  }
  function fmt(r) { return r ? r.text + " " + r.unit : "-"; }

  // --- chart ---------------------------------------------------------------------------------------------------
  function averages() {
    // fixed windows: the average of the samples of the running block; sliding: the last window's samples
    const w = state.windowMin * 60000;
    const fixed = [], sliding = [];
    let blockStart = -1, sum = 0, n = 0, lo = 0, slidingSum = 0;
    state.samples.forEach((s, i) => {
      const block = Math.floor(s.t / w);
      if (block !== blockStart) { blockStart = block; sum = 0; n = 0; }
      sum += s.p; n += 1;
      fixed.push(sum / n);
      slidingSum += s.p;
      while (state.samples[lo].t <= s.t - w) { slidingSum -= state.samples[lo].p; lo += 1; }
      sliding.push(slidingSum / (i - lo + 1));
    });
    return { fixed, sliding };
  }
  function draw() {
    const canvas = $("chart"), ctx = canvas.getContext("2d");
    const W = canvas.width, H = canvas.height, pad = 40;
    ctx.clearRect(0, 0, W, H);
    const samples = state.samples;
    const threshold = Number($("threshold").value) || 0;
    const md = kw(state.registers["1.6.0"]);
    const { fixed, sliding } = averages();
    let top = Math.max(1, threshold, md || 0, ...samples.map((s) => Math.max(s.p, s.d || 0)));
    top *= 1.15;
    const t1 = samples.length ? samples[samples.length - 1].t : Date.now();
    const t0 = t1 - Math.max(state.windowMin * 4, 20) * 60000;
    const x = (t) => pad + ((t - t0) / (t1 - t0 || 1)) * (W - pad - 10);
    const y = (v) => H - 20 - (v / top) * (H - 40);
    ctx.strokeStyle = "#d0d4d9"; ctx.fillStyle = "#6b7480"; ctx.font = "11px sans-serif"; ctx.lineWidth = 1;
    for (let k = 0; k <= 4; k++) {
      const v = (top * k) / 4;
      ctx.beginPath(); ctx.moveTo(pad, y(v)); ctx.lineTo(W - 10, y(v)); ctx.stroke();
      ctx.fillText(v.toFixed(v < 10 ? 1 : 0), 4, y(v) + 4);
    }
    ctx.fillText("kW", 4, 12);
    function line(values, color, width, dash) {
      ctx.strokeStyle = color; ctx.lineWidth = width; ctx.setLineDash(dash || []);
      ctx.beginPath();
      let started = false;
      samples.forEach((s, i) => {
        const v = values[i];
        if (v === null || v === undefined || s.t < t0) return;
        if (!started) { ctx.moveTo(x(s.t), y(v)); started = true; } else ctx.lineTo(x(s.t), y(v));
      });
      ctx.stroke(); ctx.setLineDash([]);
    }
    line(samples.map((s) => s.p), "#9aa3ad", 1);
    line(fixed, "#ef6c00", 2);
    line(sliding, "#2e7d32", 2);
    line(samples.map((s) => s.d), "#1565c0", 2.5);
    function hline(v, color, label) {
      ctx.strokeStyle = color; ctx.lineWidth = 1.5; ctx.setLineDash([6, 4]);
      ctx.beginPath(); ctx.moveTo(pad, y(v)); ctx.lineTo(W - 10, y(v)); ctx.stroke(); ctx.setLineDash([]);
      ctx.fillStyle = color; ctx.fillText(label, pad + 4, y(v) - 4);
    }
    if (threshold > 0) hline(threshold, "#c62828", "threshold " + threshold + " kW");
    if (md !== null && md > 0) {
      const r = state.registers["1.6.0"];
      const at = r.max_at ? new Date(r.max_at) : null;
      hline(md, "#7b1fa2", "MD " + r.text + " " + r.unit + (at ? " at " + at.toISOString().slice(11, 16) + " UTC" : ""));
      if (at && at.getTime() >= t0) {
        ctx.fillStyle = "#7b1fa2"; ctx.beginPath(); ctx.arc(x(at.getTime()), y(md), 5, 0, 2 * Math.PI); ctx.fill();
      }
    }
  }

  // --- logs ----------------------------------------------------------------------------------------------------
  function addRows(tbody, entries, withLevel) {
    for (const e of entries) {
      const tr = document.createElement("tr");
      tr.className = "lvl-" + e.level;
      const cells = withLevel ? [e.seq, e.at.replace("T", " ").slice(0, 19), e.level, e.kind, e.text]
        : [e.seq, e.at.replace("T", " ").slice(0, 19), e.kind, e.text];
      for (const c of cells) { const td = document.createElement("td"); td.textContent = String(c); tr.appendChild(td); }
      tbody.insertBefore(tr, tbody.firstChild);
    }
    while (tbody.rows.length > 200) tbody.deleteRow(tbody.rows.length - 1);
  }

  // --- state ---------------------------------------------------------------------------------------------------
  function render(data) {
    const meter = data.meter, s = meter.status;
    state.status = s;
    state.display = data.display;
    state.registers = data.registers;
    const m = /(\d+)/.exec(s.demand_window);
    if (m) state.windowMin = Number(m[1]);
    $("title").textContent = "Meter " + meter.serial;
    $("ident").textContent = meter.manufacturer + " " + meter.model;
    $("plate-maker").textContent = meter.manufacturer;
    $("plate-model").textContent = meter.model;
    $("plate-serial").textContent = meter.serial;
    $("window").textContent = "(" + s.demand_window + ")";
    $("power-state").textContent = s.powered ? "on" : "off";
    $("power-state").className = s.powered ? "" : "bad";
    $("relay-state").textContent = s.relay_closed ? "closed" : "open (tripped)";
    $("relay-state").className = s.relay_closed ? "" : "bad";
    $("cover-state").textContent = s.cover_open ? "open" : "closed";
    $("cover-state").className = s.cover_open ? "bad" : "";
    $("button-state").textContent = s.button_armed ? "armed" : "idle";
    $("cover-area").className = "cover-area" + (s.cover_open ? " open" : "");
    $("cover-btn").textContent = s.cover_open ? "close terminal cover" : "open terminal cover";
    $("supply-btn").textContent = s.powered ? "supply off" : "supply on";
    $("seal-btn").disabled = !s.powered;
    $("reset-btn").disabled = !s.powered;
    $("port-led").className = "led" + (data.port_active ? " on" : "");
    $("source-hint").textContent = s.live_load ? "" : "The meter runs a synthetic load; moving a slider switches it to this live load.";
    (s.phases || []).forEach((p, i) => {
      const slider = $("load-" + (i + 1));
      if (!slider) return;
      slider.max = String(s.max_current_a || 400);
      if (Date.now() > Number(slider.dataset.userUntil || 0) && document.activeElement !== slider) {
        slider.value = String(Math.round(p.current_a));
        $("load-" + (i + 1) + "-out").textContent = p.current_a.toFixed(1) + " A";
      }
    });
    const r = data.registers;
    $("power-now").textContent = fmt(r["1.7.0"]);
    $("demand-now").textContent = fmt(r["1.4.0"]);
    $("demand-last").textContent = fmt(r["1.5.0"]);
    $("md").textContent = fmt(r["1.6.0"]);
    $("md-at").textContent = r["1.6.0"] && r["1.6.0"].max_at ? "at " + r["1.6.0"].max_at.replace("T", " ").slice(0, 16) : "";
    const t = new Date(s.at).getTime();
    const p = kw(r["1.7.0"]);
    if (p !== null && (!state.samples.length || t > state.samples[state.samples.length - 1].t)) {
      state.samples.push({ t, p, d: kw(r["1.4.0"]) });
      while (state.samples.length && state.samples[0].t < t - 3 * 3600000) state.samples.shift();
    }
    addRows($("events"), data.events, false);
    addRows($("security"), data.security, true);
    showLcd();
    draw();
  }

  const source = new EventSource("/api/meters/" + encodeURIComponent(serial) + "/stream" + query);
  source.addEventListener("state", (ev) => { $("conn").textContent = "live"; $("conn").className = "conn ok"; render(JSON.parse(ev.data)); });
  source.onerror = () => { $("conn").textContent = "reconnecting…"; $("conn").className = "conn"; };
})();
