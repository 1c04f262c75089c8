// The run page's waterfall: a tree of spans (nodes, subgraphs, model and tool calls, gates)
// that collapses, filters and zooms, drawing only the rows in view, so a run of 10,000 spans
// scrolls like one of ten. The rows come from GET /api/runs/{id}/steps in keyset pages
// (without payloads); the server's first rows show until then (and are the page without
// JavaScript). Live rows arrive over the page's websocket inside #span-rows (the consumer's
// fragments, console/web/consumers.py): they are read into the tree and taken out of the DOM;
// a full fragment (a connect, a gap) says the page may lack rows, and they are loaded from the
// API. Selecting a step opens its panel and puts ?span=<id> in the address, so any step can be
// linked. Keys: j/k next/previous, h/l collapse/expand, / filter, z/0 zoom, ? help.
(function () {
  "use strict";

  // Payload copy buttons, in the span panel.
  document.addEventListener("click", function (event) {
    var copy = event.target.closest && event.target.closest("[data-copy]");
    if (!copy) return;
    var source = document.querySelector(copy.getAttribute("data-copy"));
    if (source && navigator.clipboard) {
      navigator.clipboard.writeText(source.textContent).then(function () { copy.textContent = "Copied"; });
    }
  });

  var root = document.getElementById("waterfall");
  if (!root) return;

  var ROW = 28;        // px per row: .wf-row's height in run-page.css
  var OVERSCAN = 10;   // rows drawn above and below the visible ones
  var PAGE = 2000;     // spans per API request

  var api = root.dataset.stepsApi, detailBase = root.dataset.detail;
  var viewport = document.getElementById("wf-viewport"), spacer = document.getElementById("wf-spacer");
  var toolbar = document.getElementById("wf-toolbar"), search = document.getElementById("wf-search");
  var countEl = document.getElementById("wf-count"), ruler = document.getElementById("wf-ruler");
  var liveEl = document.getElementById("wf-live"), panel = document.getElementById("span-detail");
  var help = document.getElementById("wf-help"), helpButton = document.getElementById("wf-help-button");

  var bySeq = {}, byId = {}, order = [], unsorted = false;
  var flat = [], index = {};         // rows shown, in order; seq -> position in flat
  var collapsed = {};                // span id -> true
  var filter = "", matches = 0;
  // Spans whose payloads (input, output: never loaded here) hold the filter, by seq, as the
  // server found them for `payloadFilter`; `searching` while it looks.
  var payloadHits = {}, payloadFilter = "", searching = false;
  var selected = null, wanted = root.dataset.selected || "";
  var t0 = Infinity, t1 = -Infinity; // the run's time axis (epoch ms)
  var view = null;                   // the zoomed range {from, to} in ms from t0, null: the whole run
  var axisVersion = 0, treeDirty = false, drawQueued = false;
  var pool = [];
  var apiSeq = -1, syncing = false, syncAgain = false, loading = true, linked = false;
  // The step the address named when the page opened (selecting a step rewrites the address).
  var linkedAtLoad = new URL(location.href).searchParams.get("span");

  // --- rows ------------------------------------------------------------------------------

  function add(rec) {
    if (bySeq[rec.seq]) return;
    rec.hay = (rec.name + " " + rec.kind + " " + rec.status + " " + rec.model + " " + rec.error).toLowerCase();
    bySeq[rec.seq] = rec;
    byId[rec.id] = rec;
    if (order.length && order[order.length - 1].seq > rec.seq) unsorted = true;
    order.push(rec);
    var end = rec.t + rec.latency;
    if (rec.t < t0 || end > t1) { t0 = Math.min(t0, rec.t); t1 = Math.max(t1, end); axisVersion++; }
    treeDirty = true;
  }

  function fromApi(o) {
    return {
      id: o.id, seq: o.seq, parent: o.parent_id || "", kind: o.kind, name: o.name, status: o.status,
      t: Date.parse(o.started_at), latency: o.latency_ms || 0, tokensIn: o.tokens_in || 0,
      tokensOut: o.tokens_out || 0, model: o.model || "", error: o.error || ""
    };
  }

  function fromElement(el) {
    var d = el.dataset;
    return {
      id: d.id, seq: +d.seq, parent: d.parent || "", kind: d.kind, name: d.name, status: d.status,
      t: Date.parse(d.started), latency: +d.latency || 0, tokensIn: +d.tokensIn || 0,
      tokensOut: +d.tokensOut || 0, model: d.model || "", error: ""
    };
  }

  // Children under their parents in start order; node numbers as the run counts its steps.
  function buildTree() {
    if (unsorted) { order.sort(function (a, b) { return a.seq - b.seq; }); unsorted = false; }
    var node = 0;
    for (var i = 0; i < order.length; i++) order[i].kids = [];
    var roots = [];
    for (i = 0; i < order.length; i++) {
      var rec = order[i], up = rec.parent && byId[rec.parent];
      rec.up = up && up !== rec ? up : null;
      (rec.up ? rec.up.kids : roots).push(rec);
      rec.node = rec.kind === "node" ? ++node : 0;
    }
    return roots;
  }

  // The rows to show: the tree depth first, less collapsed subtrees; with a filter, the rows
  // that match and the rows above them (whatever is collapsed).
  function flatten() {
    var roots = buildTree();
    treeDirty = false;
    var keep = null;
    matches = 0;
    if (filter) {
      keep = {};
      for (var i = 0; i < order.length; i++) {
        var hit = order[i].hay.indexOf(filter) !== -1 || (payloadFilter === filter && payloadHits[order[i].seq]);
        if (!hit) continue;
        matches++;
        for (var r = order[i]; r && !keep[r.seq]; r = r.up) keep[r.seq] = true;
      }
    }
    flat = [];
    index = {};
    var stack = [];
    for (i = roots.length - 1; i >= 0; i--) stack.push([roots[i], 0]);
    while (stack.length) {
      var top = stack.pop(), rec = top[0];
      if (keep && !keep[rec.seq]) continue;
      rec.depth = top[1];
      index[rec.seq] = flat.length;
      flat.push(rec);
      if (keep || !collapsed[rec.id]) {
        for (var k = rec.kids.length - 1; k >= 0; k--) stack.push([rec.kids[k], top[1] + 1]);
      }
    }
    spacer.style.height = flat.length * ROW + "px";
    // A short run's box is as tall as its rows; a long one's stops at its max-height (run-page.css).
    viewport.style.height = Math.max(flat.length, 3) * ROW + 2 + "px";
    var total = order.length.toLocaleString();
    countEl.textContent = (filter ? matches.toLocaleString() + " of " + total + " spans match" : total + " spans")
      + (filter && searching ? " · searching inputs and outputs…" : "") + (loading ? " · loading…" : "");
  }

  // --- drawing ---------------------------------------------------------------------------

  function range() {
    var whole = Math.max(t1 - t0, 0.001);
    return view || {from: 0, to: whole};
  }

  function duration(ms) {
    if (ms === 0) return "0";
    if (ms < 1) return ms.toFixed(2) + " ms";
    if (ms < 1000) return Math.round(ms) + " ms";
    if (ms < 60000) return (ms / 1000).toFixed(1) + " s";
    return Math.floor(ms / 60000) + " min " + Math.round((ms % 60000) / 1000) + " s";
  }

  function count(n) {
    return n >= 10000 ? Math.round(n / 1000) + "k" : n >= 1000 ? (n / 1000).toFixed(1) + "k" : String(n);
  }

  function makeRow() {
    var a = document.createElement("a");
    a.className = "span-row wf-row";
    a.innerHTML = '<span class="span-cols"><span class="span-label"><span class="twisty" aria-hidden="true"></span>' +
      '<span class="kind"></span> <span class="span-name"></span> <small class="meta wf-node"></small></span>' +
      '<span><span class="status"></span></span><span class="bar-cell"><span class="bar"></span></span>' +
      '<span class="num wf-latency"></span><span class="num wf-tokens"></span></span>';
    var cells = a.firstChild.children;
    a._label = cells[0];
    a._twisty = cells[0].children[0];
    a._kind = cells[0].children[1];
    a._name = cells[0].children[2];
    a._node = cells[0].children[3];
    a._status = cells[1].firstChild;
    a._bar = cells[2].firstChild;
    a._latency = cells[3];
    a._tokens = cells[4];
    spacer.appendChild(a);
    return a;
  }

  function fill(el, rec, position) {
    var open = rec.kids.length && (filter || !collapsed[rec.id]);
    var key = rec.seq + "|" + axisVersion + "|" + (rec === selected) + "|" + open + "|" + rec.depth + "|" + rec.kids.length + "|" + (view && view.from) + "|" + (view && view.to);
    el.style.transform = "translateY(" + position * ROW + "px)";
    if (el._key === key) return;
    el._key = key;
    el._seq = rec.seq;
    el.className = "span-row wf-row " + rec.kind + " " + rec.status + (rec === selected ? " selected" : "");
    el.href = location.pathname + "?span=" + rec.id;
    if (rec === selected) el.setAttribute("aria-current", "true"); else el.removeAttribute("aria-current");
    el._label.style.paddingLeft = Math.min(rec.depth, 24) * 0.9 + "rem";
    el._twisty.textContent = rec.kids.length ? (open ? "▾" : "▸") : "";
    el._twisty.className = "twisty" + (rec.kids.length ? "" : " leaf");
    el._twisty.title = rec.kids.length ? (open ? "Collapse" : "Expand") + " (" + rec.kids.length + ")" : "";
    el._kind.textContent = rec.kind;
    el._name.textContent = rec.name;
    el._node.textContent = rec.node ? "step " + rec.node : "";
    el._status.className = "status " + rec.status;
    el._status.textContent = rec.status;
    var r = range(), span = r.to - r.from, left = (rec.t - t0 - r.from) / span * 100;
    var width = Math.max(rec.latency / span * 100, 0.6);
    el._bar.className = "bar " + rec.kind;
    el._bar.style.display = left > 100 || left + width < 0 ? "none" : "";
    // A short span at the very end keeps a visible bar: it ends at the axis' end.
    if (width <= 0.6 && left + width > 100 && left <= 100) left = 100 - width;
    el._bar.style.left = Math.max(left, 0) + "%";
    el._bar.style.width = Math.max(Math.min(width + Math.min(left, 0), 100 - Math.max(left, 0)), 0.6) + "%";
    el._latency.textContent = duration(rec.latency);
    el._tokens.textContent = rec.kind === "model" ? count(rec.tokensIn) + " → " + count(rec.tokensOut) : "";
    el.title = rec.kind + " " + rec.name + " · " + duration(rec.latency);
  }

  function draw() {
    drawQueued = false;
    if (treeDirty) flatten();
    var top = viewport.scrollTop, height = viewport.clientHeight || 600;
    var first = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
    var last = Math.min(flat.length, Math.ceil((top + height) / ROW) + OVERSCAN);
    while (pool.length < last - first) pool.push(makeRow());
    for (var i = 0; i < pool.length; i++) {
      var position = first + i;
      if (position < last) { pool[i].hidden = false; fill(pool[i], flat[position], position); }
      else pool[i].hidden = true;
    }
    drawRuler();
  }

  function redraw() {
    if (!drawQueued) { drawQueued = true; requestAnimationFrame(draw); }
  }

  var rulerKey = "";
  function drawRuler() {
    var r = range(), key = r.from + "|" + r.to;
    if (key === rulerKey) return;
    rulerKey = key;
    ruler.textContent = "";
    // A label every 80 px or so: four on a desktop, two on a phone.
    var ticks = Math.max(2, Math.min(6, Math.floor((ruler.clientWidth || 320) / 80)));
    for (var i = 0; i < ticks; i++) {
      var tick = document.createElement("span");
      tick.className = "wf-tick";
      tick.style.left = i * 100 / ticks + "%";
      tick.textContent = duration(r.from + (r.to - r.from) * i / ticks);
      ruler.appendChild(tick);
    }
    ruler.classList.toggle("zoomed", !!view);
  }

  // --- selection, the panel and the address ----------------------------------------------

  var detailTimer = null;
  function select(rec, how) {
    how = how || {};
    for (var up = rec.up; up; up = up.up) {
      if (collapsed[up.id]) { delete collapsed[up.id]; treeDirty = true; }
    }
    if (filter && index[rec.seq] === undefined) { filter = ""; search.value = ""; treeDirty = true; }
    selected = rec;
    if (treeDirty) flatten();
    var position = index[rec.seq];
    if (position !== undefined) {
      var top = position * ROW, height = viewport.clientHeight;
      if (top < viewport.scrollTop || top + ROW > viewport.scrollTop + height) {
        viewport.scrollTop = how.center ? top - height / 2 : (top < viewport.scrollTop ? top : top - height + ROW);
      }
    }
    redraw();
    var url = new URL(location.href);
    url.searchParams.set("span", rec.id);
    url.searchParams.delete("after");
    url.hash = "";
    history.replaceState(history.state, "", url.pathname + url.search);
    var shown = panel.querySelector(".span-detail");
    if (shown && shown.dataset.id === rec.id) return;
    clearTimeout(detailTimer);
    // j held down walks many steps: load the panel of the one it stops at.
    detailTimer = setTimeout(function () { loadDetail(rec, how.reveal); }, how.key ? 120 : 0);
  }

  function loadDetail(rec, reveal) {
    panel.setAttribute("aria-busy", "true");
    fetch(detailBase + rec.seq + "/", {credentials: "same-origin", headers: {"HX-Request": "true"}})
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        if (selected !== rec) return;
        panel.innerHTML = html;
        if (window.htmx) window.htmx.process(panel);
        if (reveal && panel.getBoundingClientRect().top > window.innerHeight) panel.scrollIntoView({block: "start"});
      })
      .catch(function (error) {
        if (selected === rec) panel.innerHTML = "";
        var p = document.createElement("p");
        p.className = "error";
        p.textContent = "Could not load step " + rec.seq + ": " + error.message;
        panel.appendChild(p);
      })
      .then(function () { panel.removeAttribute("aria-busy"); });
  }

  function selectWanted() {
    if (!wanted || !byId[wanted]) return;
    var rec = byId[wanted];
    wanted = "";
    select(rec, {center: true});
    // A link to a step opens at the steps (a failed run's own page opens at its error, above).
    if (linkedAtLoad === rec.id && !linked) {
      document.getElementById("steps").scrollIntoView({block: "start"});
    }
    linked = true;
  }

  function move(step) {
    if (!flat.length) return;
    var position = selected && index[selected.seq] !== undefined ? index[selected.seq] + step : (step > 0 ? 0 : flat.length - 1);
    select(flat[Math.max(0, Math.min(flat.length - 1, position))], {key: true});
  }

  function toggle(rec, open) {
    if (!rec || !rec.kids.length) return;
    if (open === undefined) open = !!collapsed[rec.id];
    if (open) delete collapsed[rec.id]; else collapsed[rec.id] = true;
    treeDirty = true;
    redraw();
  }

  // --- zoom ------------------------------------------------------------------------------

  function zoomTo(from, to) {
    var whole = Math.max(t1 - t0, 0.001);
    from = Math.max(0, from);
    to = Math.min(whole, to);
    view = to - from >= whole * 0.999 || to - from <= 0 ? null : {from: from, to: Math.max(to, from + 0.01)};
    redraw();
  }

  function zoom(factor) {
    var r = range(), middle = (r.from + r.to) / 2;
    if (selected && selected.t - t0 >= r.from && selected.t - t0 <= r.to) middle = selected.t - t0 + selected.latency / 2;
    var half = (r.to - r.from) * factor / 2;
    zoomTo(middle - half, middle + half);
  }

  function zoomSpan() {
    if (!selected) return;
    var pad = Math.max(selected.latency * 0.1, 0.05);
    zoomTo(selected.t - t0 - pad, selected.t - t0 + selected.latency + pad);
  }

  var drag = null, shade = null;
  ruler.addEventListener("pointerdown", function (event) {
    var box = ruler.getBoundingClientRect();
    drag = {box: box, x: event.clientX};
    shade = shade || document.createElement("span");
    shade.className = "wf-shade";
    ruler.appendChild(shade);
    ruler.setPointerCapture(event.pointerId);
  });
  ruler.addEventListener("pointermove", function (event) {
    if (!drag) return;
    var a = Math.min(drag.x, event.clientX) - drag.box.left, b = Math.max(drag.x, event.clientX) - drag.box.left;
    shade.style.left = Math.max(a, 0) + "px";
    shade.style.width = Math.min(b, drag.box.width) - Math.max(a, 0) + "px";
  });
  ruler.addEventListener("pointerup", function (event) {
    if (!drag) return;
    var box = drag.box, a = Math.min(drag.x, event.clientX), b = Math.max(drag.x, event.clientX);
    drag = null;
    if (shade.parentNode) shade.parentNode.removeChild(shade);
    rulerKey = "";
    if (b - a < 4) { redraw(); return; }
    var r = range(), span = r.to - r.from;
    zoomTo(r.from + (a - box.left) / box.width * span, r.from + (b - box.left) / box.width * span);
  });

  // --- loading: the API, and live rows ---------------------------------------------------

  function sync() {
    if (syncing) { syncAgain = true; return; }
    syncing = true;
    loading = true;
    var failures = 0;
    (function next() {
      fetch(api + "?payloads=false&limit=" + PAGE + "&after=" + apiSeq, {credentials: "same-origin", headers: {Accept: "application/json"}})
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (items) {
          failures = 0;
          for (var i = 0; i < items.length; i++) add(fromApi(items[i]));
          if (items.length) apiSeq = items[items.length - 1].seq;
          if (items.length === PAGE) { treeDirty = true; redraw(); selectWanted(); next(); return; }
          syncing = false;
          loading = false;
          treeDirty = true;
          redraw();
          selectWanted();
          if (syncAgain) { syncAgain = false; sync(); }
        })
        .catch(function (error) {
          failures++;
          showLive("Could not load the steps (" + error.message + "); trying again…");
          setTimeout(next, Math.min(1000 * failures, 10000));
        });
    })();
  }

  // Rows the server drew or the consumer sent: read into the tree, then out of the DOM.
  function takeRows(container) {
    var rows = container.querySelectorAll("a.span-row[data-seq]");
    for (var i = 0; i < rows.length; i++) add(fromElement(rows[i]));
    var mark = container.querySelector(".wf-mark");
    container.textContent = "";
    if (rows.length) redraw();
    return mark;
  }

  var rowsHost = document.getElementById("span-rows");
  var watchRows = new MutationObserver(function () { takeRows(rowsHost); });
  // The consumer's full fragment replaces #span-rows: take its rows, and load what it lacks.
  new MutationObserver(function () {
    var now = document.getElementById("span-rows");
    if (!now || now === rowsHost) return;
    rowsHost = now;
    rowsHost.hidden = true;
    watchRows.disconnect();
    watchRows.observe(rowsHost, {childList: true});
    if (takeRows(rowsHost)) sync();
  }).observe(root, {childList: true});

  // --- live connection -------------------------------------------------------------------

  var liveTimer = null, leaving = false, wasClosed = false;
  function showLive(text, fade) {
    clearTimeout(liveTimer);
    liveEl.textContent = text;
    liveEl.hidden = false;
    if (fade) liveTimer = setTimeout(function () { liveEl.hidden = true; }, 3000);
  }
  window.addEventListener("pagehide", function () { leaving = true; });
  var retries = 0;
  // htmx's ws extension reconnects by itself after an abnormal close (1006, 1011-1013) only;
  // after any other (a server that closed it, a message it refused) the page opens a new socket
  // on a fresh copy of the element, after a growing pause.
  function reopen(old) {
    if (!old.isConnected || !window.htmx) return;
    var fresh = old.cloneNode(false);
    old.parentNode.replaceChild(fresh, old);
    window.htmx.process(fresh);
  }
  document.addEventListener("htmx:wsClose", function (event) {
    if (leaving) return;
    var code = event.detail && event.detail.event ? event.detail.event.code : 1006;
    wasClosed = true;
    document.body.classList.add("live-lost");
    if (code === 4401) { showLive("Live updates stopped: you are signed out. Reload the page after signing in."); return; }
    showLive("Live updates paused: the connection was lost. Reconnecting…");
    if ([1006, 1011, 1012, 1013].indexOf(code) === -1) {
      var socketElement = event.target;
      setTimeout(function () { reopen(socketElement); }, Math.min(1000 * Math.pow(2, retries++), 30000));
    }
  });
  document.addEventListener("htmx:wsOpen", function () {
    document.body.classList.remove("live-lost");
    if (wasClosed) { retries = 0; showLive("Reconnected: catching up.", true); }
  });

  // --- events ----------------------------------------------------------------------------

  viewport.addEventListener("scroll", redraw, {passive: true});
  window.addEventListener("resize", function () { rulerKey = ""; redraw(); });

  viewport.addEventListener("click", function (event) {
    var row = event.target.closest("a.wf-row");
    if (!row || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    var rec = bySeq[row._seq];
    if (!rec) return;
    if (event.target.closest(".twisty")) { toggle(rec); return; }
    select(rec, {reveal: true});
  });

  var searchTimer = null;
  search.addEventListener("input", function () {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(function () {
      filter = search.value.trim().toLowerCase();
      treeDirty = true;
      viewport.scrollTop = 0;
      redraw();
      searchPayloads(filter);
    }, 120);
  });

  // The server looks for the filter in the spans' inputs and outputs; the rows it names join
  // the matches when it answers, unless the filter has changed meanwhile.
  function searchPayloads(text) {
    if (!text) { searching = false; return; }
    searching = true;
    fetch(api + "?payloads=false&limit=5000&q=" + encodeURIComponent(text), {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (items) {
        if (text !== filter) return;
        payloadHits = {};
        for (var i = 0; i < items.length; i++) payloadHits[items[i].seq] = true;
        payloadFilter = text;
      })
      .catch(function () { /* the names still filter; the payload search is a bonus */ })
      .then(function () {
        if (text !== filter) return;
        searching = false;
        treeDirty = true;
        redraw();
      });
  }

  toolbar.addEventListener("click", function (event) {
    var button = event.target.closest("[data-wf]");
    if (!button) return;
    var what = button.dataset.wf;
    if (what === "collapse") order.forEach(function (rec) { if (rec.kids && rec.kids.length) collapsed[rec.id] = true; });
    if (what === "expand") collapsed = {};
    if (what === "collapse" || what === "expand") { treeDirty = true; redraw(); }
    if (what === "zoom-in") zoom(0.5);
    if (what === "zoom-out") zoom(2);
    if (what === "zoom-fit") zoomTo(0, Infinity);
    if (what === "zoom-span") zoomSpan();
  });

  function openHelp() { if (help && !help.open) help.showModal(); }
  if (helpButton) { helpButton.hidden = false; helpButton.addEventListener("click", openHelp); }
  if (help) help.addEventListener("click", function (event) {
    if (event.target === help || event.target.closest("[data-wf=close-help]")) help.close();
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target, typing = target.closest && target.closest("input, textarea, select, [contenteditable]");
    if (typing) {
      if (target === search && (event.key === "Escape" || event.key === "Enter")) {
        if (event.key === "Escape") { search.value = ""; filter = ""; treeDirty = true; redraw(); }
        search.blur();
        viewport.focus({preventScroll: true});
      }
      return;
    }
    if (help && help.open) return;
    var key = event.key;
    if (key === "j" || key === "ArrowDown" && target === viewport) move(1);
    else if (key === "k" || key === "ArrowUp" && target === viewport) move(-1);
    else if (key === "/") search.focus();
    else if (key === "?") openHelp();
    else if (key === "h" || key === "ArrowLeft" && target === viewport) {
      if (selected && selected.kids.length && !collapsed[selected.id] && !filter) toggle(selected, false);
      else if (selected && selected.up) select(selected.up, {key: true});
    } else if (key === "l" || key === "ArrowRight" && target === viewport) toggle(selected, true);
    else if (key === "z") zoomSpan();
    else if (key === "0") zoomTo(0, Infinity);
    else return;
    event.preventDefault();
  });

  // --- start -----------------------------------------------------------------------------

  var firstRows = document.getElementById("span-rows");
  takeRows(firstRows);
  firstRows.hidden = true;
  var more = document.getElementById("more-spans");
  if (more) more.hidden = true;
  watchRows.observe(rowsHost, {childList: true});
  toolbar.hidden = false;
  viewport.hidden = false;
  viewport.tabIndex = 0;
  viewport.setAttribute("aria-label", "Steps of this run (j and k move, ? for shortcuts)");
  root.classList.add("wf-ready");
  flatten();
  draw();
  selectWanted();
  sync();
  // Test and measurement hook: what the waterfall holds and shows (no behaviour depends on it).
  root.wf = {
    rows: function () { return order.length; },
    shown: function () { return flat.length; },
    loading: function () { return loading; },
    select: function (seq) { if (bySeq[seq]) select(bySeq[seq], {center: true}); },
    selected: function () { return selected && selected.seq; }
  };
})();
