// kernelray task stream: one lane per worker (grouped by node), a bar per task execution.
// Data comes in the "data" trait (see kernelray/widgets/stream_model.py): bars are
// [lane, start_ms, dur_ms, fn, status(0 ok, 1 failed, 2 running), task_id12, error, attempt].
const ROW = 16, GUTTER = 170;

function el(tag, cls, parent, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

function fmtMs(ms) { return ms >= 1000 ? (ms / 1000).toFixed(2) + " s" : ms.toFixed(1) + " ms"; }

function index(data) {
  // per lane row: bars sorted by start, for drawing and hit-testing
  const row = new Map(data.lanes.map((l, i) => [l.index, i]));
  const perRow = data.lanes.map(() => []);
  for (const b of data.bars) { const r = row.get(b[0]); if (r !== undefined) perRow[r].push(b); }
  for (const rows of perRow) rows.sort((a, b) => a[1] - b[1]);
  let lo = Infinity, hi = data.now_ms || 0;
  for (const b of data.bars) { lo = Math.min(lo, b[1]); hi = Math.max(hi, b[1] + b[2]); }
  for (const b of data.bins) { lo = Math.min(lo, b[1]); hi = Math.max(hi, b[1] + b[2]); }
  if (!isFinite(lo)) lo = 0;
  return { row, perRow, lo, hi: Math.max(hi, lo + 1) };
}

// The notebook cell selected now (its execution count), in the notebook that shows this widget:
// JupyterLab / Notebook 7 (.jp-Cell.jp-mod-active) or the classic notebook (.cell.selected).
function selectedCell(host) {
  const nb = host.closest(".jp-Notebook, #notebook") || document;
  const cell = nb.querySelector(".jp-Cell.jp-mod-active") || nb.querySelector(".jp-Cell.jp-mod-selected") ||
    nb.querySelector(".cell.selected");
  const prompt = cell && cell.querySelector(".jp-InputPrompt, .input_prompt");
  const m = prompt && /\[(\d+)\]/.exec(prompt.textContent);
  return m ? m[1] : null;
}

function render({ model, el: host }) {
  const root = el("div", "kr-stream", host);
  root.style.cssText = "font:11px system-ui,sans-serif;color:var(--jp-ui-font-color1,#222);user-select:none";
  const bar = el("div", "kr-stream-toolbar", root);
  bar.style.cssText = "display:flex;gap:8px;align-items:center;margin:2px 0";
  el("b", "", bar, "task stream");
  const info = el("span", "kr-stream-info", bar); info.style.color = "#888";
  const live = el("button", "kr-stream-live", bar, "live"); live.title = "follow the newest tasks";
  const all = el("button", "kr-stream-all", bar, "all"); all.title = "show every kept bar";
  const exp = el("button", "kr-stream-export", bar, "Chrome trace"); exp.title = "download the bars as a Chrome trace (chrome://tracing, Perfetto)";
  const scroller = el("div", "kr-stream-scroll", root);
  scroller.style.cssText = "position:relative;display:flex;max-height:420px;overflow-y:auto;border:1px solid #ddd";
  const gutter = el("div", "kr-stream-gutter", scroller);
  gutter.style.cssText = `width:${GUTTER}px;flex:none;overflow:hidden;white-space:nowrap`;
  const canvas = el("canvas", "kr-stream-canvas", scroller);
  canvas.style.cssText = "flex:1;display:block;cursor:crosshair";
  const tip = el("div", "kr-stream-tip", root);
  tip.style.cssText = "position:fixed;display:none;pointer-events:none;background:#222;color:#fff;padding:4px 6px;border-radius:3px;z-index:1000;white-space:pre";
  const legend = el("div", "kr-stream-legend", root);
  legend.style.cssText = "display:flex;flex-wrap:wrap;gap:8px;margin-top:3px";
  const view = { follow: true, span: null, end: null };
  let data = model.get("data"), ix = index(data);
  let cell = null, picked = null;  // the selected cell's number and the Set of its bars (null: no highlight)
  function pick() {
    const bars = cell !== null && data.cells ? data.cells[cell] : null;
    picked = bars && bars.length ? new Set(bars.map((i) => data.bars[i])) : null;
  }
  function watchCell() {
    const c = selectedCell(host);
    if (c !== cell) { cell = c; pick(); redraw(); }
  }

  function drawLanes() {
    gutter.textContent = "";
    let node = null;
    data.lanes.forEach((l) => {
      const d = el("div", "kr-stream-lane", gutter, (l.node !== node ? l.node + " · " : "\u2003 ") + l.label);
      node = l.node;
      d.dataset.kind = l.kind; d.dataset.node = l.node;
      d.style.cssText = `height:${ROW}px;line-height:${ROW}px;overflow:hidden;text-overflow:ellipsis;padding-left:3px;border-top:${d.textContent.startsWith(l.node) ? "1px solid #bbb" : "none"};box-sizing:border-box`;
    });
    legend.textContent = "";
    data.functions.forEach((f, i) => {
      const s = el("span", "kr-stream-fn", legend);
      el("span", "", s).style.cssText = `display:inline-block;width:10px;height:10px;margin-right:3px;background:${data.colors[i]}`;
      s.appendChild(document.createTextNode(f));
    });
  }

  function windowMs() {
    const full = ix.hi - ix.lo;
    const span = view.span === null ? full : Math.min(view.span, Math.max(full, 1));
    const end = view.follow || view.end === null ? ix.hi : view.end;
    return [end - span, end];
  }

  function draw() {
    const t = performance.now();
    const w = Math.max(200, scroller.clientWidth - GUTTER), h = Math.max(ROW, data.lanes.length * ROW);
    const dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr);
      canvas.style.width = w + "px"; canvas.style.height = h + "px";
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const [a, b] = windowMs(), k = w / (b - a);
    ctx.fillStyle = "#888";
    for (const bin of data.bins) {
      const r = ix.row.get(bin[0]);
      if (r === undefined || bin[1] + bin[2] < a || bin[1] > b) continue;
      ctx.globalAlpha = Math.min(1, bin[3]);
      ctx.fillRect((bin[1] - a) * k, r * ROW + 2, Math.max(bin[2] * k, 0.5), ROW - 4);
    }
    ctx.globalAlpha = 1;
    let drawn = 0;
    ix.perRow.forEach((rows, r) => {
      let lastX = -1, lastFn = -1, lastEnd = -1;
      for (const bar of rows) {
        if (bar[1] > b) break;
        if (bar[1] + bar[2] < a) continue;
        const x = (bar[1] - a) * k, x2 = (bar[1] + bar[2] - a) * k;
        const mine = picked === null || picked.has(bar);
        ctx.globalAlpha = mine ? 1 : 0.18;
        if (bar[3] === lastFn && bar[4] === 0 && x <= lastEnd + 0.5 && picked === null) {  // touches the last one: extend it
          if (x2 > lastEnd) { ctx.fillRect(lastEnd, r * ROW + 2, x2 - lastEnd, ROW - 4); lastEnd = x2; }
          continue;
        }
        ctx.fillStyle = data.colors[bar[3]] || "#888";
        ctx.fillRect(x, r * ROW + 2, Math.max(x2 - x, 0.6), ROW - 4);
        if (bar[4] === 1) { ctx.strokeStyle = "#d62728"; ctx.lineWidth = 1.5; ctx.strokeRect(x, r * ROW + 2, Math.max(x2 - x, 0.6), ROW - 4); }
        if (bar[4] === 2) { ctx.fillStyle = "rgba(255,255,255,.45)"; ctx.fillRect(x, r * ROW + 2, Math.max(x2 - x, 0.6), 3); }
        if (picked !== null && mine) { ctx.strokeStyle = "#111"; ctx.lineWidth = 1; ctx.strokeRect(x, r * ROW + 1.5, Math.max(x2 - x, 0.6), ROW - 3); }
        lastX = x; lastFn = bar[4] === 0 ? bar[3] : -1; lastEnd = Math.max(x2, x + 0.6); drawn++;
        ctx.fillStyle = data.colors[bar[3]] || "#888";
      }
    });
    ctx.globalAlpha = 1;
    const ms = performance.now() - t;
    root.dataset.lanes = data.lanes.length; root.dataset.bars = data.bars.length;
    root.dataset.drawn = drawn; root.dataset.drawMs = ms.toFixed(2); root.dataset.version = data.version;
    root.dataset.cell = cell === null ? "" : cell; root.dataset.highlighted = picked === null ? 0 : picked.size;
    info.textContent = `${data.bars.length} bars${data.binned ? `, ${data.binned} older binned` : ""} · ${data.lanes.length} lanes · ${fmtMs(b - a)} shown` +
      (picked !== null ? ` · cell [${cell}]: ${picked.size} bars` : "");
    live.style.fontWeight = view.follow ? "700" : "400";
  }

  let queued = false;
  function redraw() { if (!queued) { queued = true; requestAnimationFrame(() => { queued = false; draw(); }); } }

  function hit(ev) {
    const rect = canvas.getBoundingClientRect();
    const r = Math.floor((ev.clientY - rect.top) / ROW), rows = ix.perRow[r];
    if (!rows) return null;
    const [a, b] = windowMs(), t = a + (ev.clientX - rect.left) * (b - a) / rect.width, slack = 2 * (b - a) / rect.width;
    for (let i = rows.length - 1; i >= 0; i--) {
      const bar = rows[i];
      if (bar[1] - slack <= t && t <= bar[1] + bar[2] + slack) return [bar, data.lanes[r]];
    }
    return null;
  }

  canvas.addEventListener("mousemove", (ev) => {
    if (drag) { pan(ev); return; }
    const h = hit(ev);
    if (!h) { tip.style.display = "none"; return; }
    const [b, lane] = h;
    tip.textContent = `${data.functions[b[3]]}\ntask ${b[5]}${b[7] ? " (attempt " + b[7] + ")" : ""}\n` +
      `${b[4] === 2 ? "running for " : ""}${fmtMs(b[2])}\nnode ${lane.node} · ${lane.label}` + (b[6] ? `\nerror: ${b[6]}` : "");
    tip.style.left = ev.clientX + 12 + "px"; tip.style.top = ev.clientY + 12 + "px"; tip.style.display = "block";
  });
  canvas.addEventListener("mouseleave", () => { tip.style.display = "none"; drag = null; });
  canvas.addEventListener("wheel", (ev) => {  // zoom around the pointer
    ev.preventDefault();
    const [a, b] = windowMs(), rect = canvas.getBoundingClientRect();
    const t = a + (ev.clientX - rect.left) * (b - a) / rect.width, f = Math.exp(ev.deltaY * 0.002);
    const na = t - (t - a) * f, nb = t + (b - t) * f;
    view.span = Math.max(1, nb - na); view.end = nb; view.follow = view.follow && nb >= ix.hi;
    redraw();
  }, { passive: false });
  let drag = null;
  function pan(ev) {
    const [a, b] = windowMs(), dt = (ev.clientX - drag.x) * (b - a) / canvas.clientWidth;
    view.span = b - a; view.end = drag.end - dt; view.follow = false; redraw();
  }
  canvas.addEventListener("mousedown", (ev) => { drag = { x: ev.clientX, end: windowMs()[1] }; });
  window.addEventListener("mouseup", () => { drag = null; });
  live.addEventListener("click", () => { view.follow = true; redraw(); });
  all.addEventListener("click", () => { view.follow = true; view.span = null; redraw(); });
  exp.addEventListener("click", () => model.send({ type: "export_chrome_trace" }));
  model.on("msg:custom", (msg) => {
    if (msg.type !== "chrome_trace") return;
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([msg.trace], { type: "application/json" }));
    a.download = msg.filename; a.click();
  });
  model.on("change:data", () => { data = model.get("data"); ix = index(data); pick(); drawLanes(); redraw(); });
  const ro = new ResizeObserver(redraw); ro.observe(scroller);
  const cellTimer = setInterval(watchCell, 400);  // selection changes by click, keyboard or API: poll it cheaply
  document.addEventListener("click", watchCell, true);
  drawLanes(); watchCell(); redraw();
  return () => { ro.disconnect(); clearInterval(cellTimer); document.removeEventListener("click", watchCell, true); };
}

export default { render };
