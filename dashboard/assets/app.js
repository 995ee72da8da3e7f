// The dashboard page: renders each snapshot the server streams, plots each
// instance's published tps, and logs joins and leaves between snapshots.
"use strict";

const history = new Map(); // "service|addr" -> [tps values], newest last
const HISTORY = 60;
let previous = null; // last snapshot, for joins and leaves

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function log(kind, text) {
  const li = el("li", { class: kind }, new Date().toLocaleTimeString() + " " + text);
  const ol = document.getElementById("log");
  ol.prepend(li);
  while (ol.children.length > 200) ol.lastChild.remove();
}

function diff(snap) {
  const now = new Map();
  for (const s of snap.services) for (const i of s.instances) now.set(s.name + " " + i.addr, i);
  if (previous) {
    const before = new Map();
    for (const s of previous.services) for (const i of s.instances) before.set(s.name + " " + i.addr, i);
    for (const [k, i] of now) {
      const b = before.get(k);
      if (!b) log("join", "joined: " + k);
      else if (b.state !== i.state) log("change", (i.state === "inactive" ? "drained: " : "active again: ") + k);
    }
    for (const k of before.keys()) if (!now.has(k)) log("leave", "left: " + k);
  }
  previous = snap;
}

function plot(canvas, values) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  if (values.length === 0) return;
  const top = Math.max(1, ...values);
  ctx.strokeStyle = "#1565c0";
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  values.forEach((v, i) => {
    const x = (i / (HISTORY - 1)) * (w - 2) + 1;
    const y = h - 2 - (v / top) * (h - 4);
    if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
  });
  ctx.stroke();
}

async function setDrained(service, addr, drained) {
  const res = await fetch("/ui/api/drain", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ service, addr, drained }),
  });
  if (!res.ok) log("leave", "drain failed: " + (await res.text()));
}

function render(snap) {
  const reg = document.getElementById("registry");
  reg.textContent = snap.registry.ok ? "registry: healthy" : "registry: " + snap.registry.error;
  reg.className = "badge " + (snap.registry.ok ? "ok" : "bad");
  const root = document.getElementById("services");
  root.replaceChildren();
  for (const s of snap.services) {
    const rows = s.instances.map((i) => {
      const key = s.name + "|" + i.addr;
      const values = history.get(key) || [];
      values.push(i.tps || 0);
      while (values.length > HISTORY) values.shift();
      history.set(key, values);
      const canvas = el("canvas", { width: 160, height: 32, class: "tps" });
      plot(canvas, values);
      const meta = Object.entries(i.meta).map(([k, v]) => k + "=" + v).join(" ");
      const action = snap.canDrain
        ? el("button", { class: i.state === "inactive" ? "undrain" : "drain", onclick: () => setDrained(s.name, i.addr, i.state !== "inactive") },
            i.state === "inactive" ? "undrain" : "drain")
        : "";
      return el("tr", { class: i.state, "data-addr": i.addr },
        el("td", { class: "addr" }, i.addr), el("td", {}, i.protocol), el("td", {}, i.weight), el("td", {}, i.group || ""),
        el("td", {}, i.version || ""), el("td", { class: "state" }, i.state),
        el("td", { class: "tpsv" }, i.tps === undefined ? "—" : i.tps.toFixed(1)), el("td", {}, canvas),
        el("td", { class: "meta" }, meta), el("td", {}, action));
    });
    const table = el("table", {},
      el("tr", {}, ...["address", "protocol", "weight", "group", "version", "state", "tps", "tps (live)", "metadata", ""].map((h) => el("th", {}, h))),
      ...rows);
    root.append(el("div", { class: "service", "data-service": s.name },
      el("h2", {}, s.name, el("small", {}, s.instances.length + " instances · watch " + s.watch)), table));
  }
}

function connect() {
  const stream = document.getElementById("stream");
  const es = new EventSource("/ui/events");
  es.onopen = () => { stream.textContent = "live"; stream.className = "badge ok"; };
  es.onerror = () => { stream.textContent = "reconnecting…"; stream.className = "badge bad"; };
  es.onmessage = (ev) => {
    const snap = JSON.parse(ev.data);
    diff(snap);
    render(snap);
  };
}

// A point every 2s even when nothing changed, so the plots move with time.
setInterval(() => { if (previous) render(previous); }, 2000);

connect();
