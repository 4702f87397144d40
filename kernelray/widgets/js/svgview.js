// kernelray picture views drawn in Python as SVG (memory, cluster, progress): the browser shows the
// SVG of the "data" trait and explains what a click on an element with data-how would do.
function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "kr-svgview";
  const pic = document.createElement("div");
  const how = document.createElement("div");
  how.className = "kr-how";
  how.style.cssText = "font:12px system-ui,sans-serif;color:#555;min-height:1em;margin-top:2px;white-space:pre-wrap";
  root.append(pic, how);
  el.appendChild(root);
  function show() {
    const d = model.get("data") || {};
    pic.innerHTML = d.svg || "";
    root.dataset.version = d.version ?? "";
  }
  pic.addEventListener("click", (ev) => {
    const t = ev.target.closest("[data-how]");
    how.textContent = t ? t.dataset.how : "";
  });
  model.on("change:data", show);
  show();
}
export default { render };
