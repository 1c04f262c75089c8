// The reviewers' pages: the inbox's list and pane, keyboard shortcuts, the bulk bar.
// Off while typing; without JavaScript every row is a link to the request's page.
//
// In the inbox, selecting a row (click, j/k) loads its pane (`?pane=1`) without a page load;
// a decision in the pane posts through htmx (hx-boost on #inbox-pane) and the answer is the next
// request's pane plus the list's rows (out of band), so the reviewer goes on in place.
(function () {
  "use strict";
  var selectedId = null;
  var checked = new Set();
  var busy = false; // a pane request in flight: keys wait, so one key press is one decision
  var queuedKey = null; // the first key pressed while busy, acted on when the new pane is ready
  var ready = function () { busy = false; }; // replaced below, once the keys are defined

  function typing(target) {
    var tag = (target && target.tagName) || "";
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }
  function pane() { return document.getElementById("inbox-pane"); }
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("li.approval, tr.approval")); }
  function mark(id) {
    selectedId = id;
    rows().forEach(function (r) {
      var on = r.dataset.id === id;
      r.classList.toggle("selected", on);
      if (on) r.setAttribute("aria-current", "true"); else r.removeAttribute("aria-current");
    });
  }
  function show(row) {
    if (!row) return;
    mark(row.dataset.id);
    row.scrollIntoView({ block: "nearest" });
    if (pane() && row.dataset.pane && window.htmx) {
      busy = true;
      window.htmx.ajax("GET", row.dataset.pane, { target: "#inbox-pane", swap: "innerHTML" });
      // One column (a phone): the pane is above the list, out of view once the reviewer scrolled.
      if (pane().getBoundingClientRect().top < 0) pane().scrollIntoView({ block: "start" });
    }
  }
  // The pane's request was settled by someone else (its row left the list): the pane offers the
  // next one (`_pane_live.html`), and j or a click on it opens it.
  function openOffered() {
    var offered = pane() && pane().querySelector("#pane-next");
    if (!offered || !window.htmx) return false;
    mark(offered.dataset.id);
    busy = true;
    window.htmx.ajax("GET", offered.dataset.pane, { target: "#inbox-pane", swap: "innerHTML" });
    return true;
  }
  function move(step) {
    var list = rows();
    var index = list.findIndex(function (r) { return r.dataset.id === selectedId; });
    if (index < 0 && step > 0 && openOffered()) return;
    if (!list.length) return;
    index = index < 0 ? (step > 0 ? 0 : list.length - 1) : Math.min(list.length - 1, Math.max(0, index + step));
    show(list[index]);
  }
  // In the inbox the buttons are the pane's; on a request's page, the page's.
  function find(selector) { return (pane() || document).querySelector(selector); }
  function click(selector) {
    var element = find(selector);
    if (element) element.click();
    return !!element;
  }
  function openPanel(panelId, focusSelector) {
    var panel = find("#" + panelId);
    if (!panel) return false;
    panel.open = true;
    var first = panel.querySelector(focusSelector);
    if (first) first.focus();
    return true;
  }
  function toggleHelp() {
    var dialog = document.getElementById("shortcuts");
    if (!dialog) return;
    if (dialog.open) dialog.close(); else dialog.showModal();
  }
  function countChecked() {
    var counter = document.getElementById("bulk-count");
    if (counter) counter.textContent = String(checked.size);
    document.querySelectorAll("#bulk-approve, #bulk-reject").forEach(function (b) { b.disabled = checked.size === 0; });
  }
  // New rows (a decision's answer, the live push): keep the reviewer's selection and checked boxes.
  function restoreRows() {
    var shown = document.querySelector("#pane-body[data-approval-id]");
    if (shown) selectedId = shown.dataset.approvalId;
    rows().forEach(function (r) {
      var box = r.querySelector("input[type=checkbox]");
      if (box) box.checked = checked.has(r.dataset.id);
    });
    mark(selectedId);
    checked.forEach(function (id) { if (!document.querySelector('.approval[data-id="' + id + '"]')) checked.delete(id); });
    countChecked();
  }

  // The pane's live part (`_pane_live.html`, rendered with the pane and pushed when its request
  // changes): while the request is settled or someone else holds it, its forms are disabled
  // (what was typed stays), so no stale decision is posted; the server refuses one anyway.
  function followLive() {
    var live = pane() && pane().querySelector(".pane-live");
    var fields = pane() && pane().querySelector("#decide-fields");
    if (live && fields) fields.disabled = live.dataset.decidable !== "true";
  }
  // The live socket learns which request the pane shows and the query of the list (console/web/
  // consumers.py `receive`), on every (re)connection, every new pane and every new list, and
  // pushes that request's live part, and the list's rows and new-requests bar for that query.
  var socket = null;
  function listQuery() {
    var list = document.getElementById("approval-rows");
    return list ? list.dataset.inbox || "" : null;
  }
  function announcePane() {
    var shown = document.querySelector("#pane-body[data-approval-id]");
    if (socket && pane()) socket.send(JSON.stringify({ pane: shown ? shown.dataset.approvalId : null, inbox: listQuery() }));
  }
  // The list was read again with the new requests on top (the bar's "show"): its query changed,
  // and decisions in the pane post it so that their answer lists the same rows. Rows pushed by
  // the socket are rendered for the query it was last told (on a reconnection, the page's first
  // one until it is told again): they never change the page's query.
  var announcedQuery = null;
  var fromSocket = false;
  function followList() {
    var query = listQuery();
    if (fromSocket || query === null || !pane() || query === announcedQuery) return;
    if (announcedQuery !== null) {
      pane().setAttribute("hx-vals", JSON.stringify({ pane: "1", inbox: query }));
      announcePane();
      // One column (a phone): the list is under the pane; show the reviewer what they asked for.
      var list = document.getElementById("approval-rows");
      if (list && list.getBoundingClientRect().top > window.innerHeight) list.scrollIntoView({ block: "start" });
    }
    announcedQuery = query;
  }
  document.addEventListener("htmx:wsOpen", function (event) {
    socket = event.detail.socketWrapper;
    announcePane();
  });
  document.addEventListener("htmx:wsBeforeMessage", function () { fromSocket = true; });
  document.addEventListener("htmx:wsAfterMessage", function () { fromSocket = false; restoreRows(); followLive(); });
  document.addEventListener("htmx:oobAfterSwap", function () { restoreRows(); followList(); });
  // An answer over HTTP settles after its swap, and settling puts back the classes the server
  // rendered (without the reviewer's selection): mark the rows again once it has settled.
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.target && event.target.id === "approval-rows") restoreRows();
  });
  document.addEventListener("DOMContentLoaded", followList);
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.target && event.target.id === "inbox-pane") { restoreRows(); followLive(); announcePane(); }
  });
  document.addEventListener("DOMContentLoaded", followLive);
  // The next key acts on the new pane only once htmx has processed it: that happens when the swap
  // settles, not when the request ends (a key pressed in between submitted the new pane's form
  // natively, a full page load). An answer that is not swapped (5xx, network) frees the keys at once.
  function forPane(event) { return !!event.detail && !!event.detail.target && event.detail.target.id === "inbox-pane"; }
  document.addEventListener("htmx:afterSettle", function (event) { if (forPane(event)) ready(); });
  document.addEventListener("htmx:sendError", function (event) { if (forPane(event)) ready(); });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (forPane(event) && event.detail.xhr && event.detail.xhr.status >= 500) ready();
  });
  // A refused decision (409, 422) answers with the pane and the reason: show it like any answer
  // (over the next request shown ahead, whose row comes back).
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    if (event.detail.target && event.detail.target.id === "inbox-pane" && status >= 400 && status < 500) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
      rows().forEach(function (r) { r.hidden = false; });
    }
  });

  // Ahead of the reviewer: the panes of the two rows after the one shown, fetched while they read
  // it. Approving by keyboard then shows the next request at once, while the decision is posted;
  // the server's answer (that request's pane again, fresh, with the notice, and the rows) replaces
  // it when it comes, or the refused request's pane with the reason. Keys wait for that answer
  // (`busy`): one key, one decision, each confirmed before the next.
  var ahead = {}; // request id -> its pane's HTML
  function rowsAfterShown(count) {
    var list = rows();
    var index = list.findIndex(function (r) { return r.dataset.id === selectedId; });
    return index < 0 ? [] : list.slice(index + 1, index + 1 + count);
  }
  function fetchAhead() {
    var listed = {};
    rows().forEach(function (r) { listed[r.dataset.id] = true; });
    Object.keys(ahead).forEach(function (id) { if (!listed[id]) delete ahead[id]; }); // decided, gone
    rowsAfterShown(2).forEach(function (row) {
      var id = row.dataset.id;
      if (ahead[id] !== undefined || !row.dataset.pane || !window.fetch) return;
      ahead[id] = null; // in flight
      window.fetch(row.dataset.pane, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html && id in ahead) ahead[id] = html; else delete ahead[id]; })
        .catch(function () { delete ahead[id]; });
    });
  }
  // What the pane shows once the shown request is decided, as the server will answer: the next
  // row's pane, or when it was the list's only row (and no page follows), the list's end.
  function paneAfterDecision() {
    var next = rowsAfterShown(1)[0];
    if (next) return ahead[next.dataset.id] || null;
    var done = document.getElementById("pane-list-done");
    var alone = rows().length === 1 && !document.getElementById("next-page");
    return alone && done ? done.innerHTML : null;
  }
  function approveShowingNext() {
    var button = find("#approve-button");
    if (!button || button.disabled) return !!button;
    var html = paneAfterDecision();
    var decided = document.querySelector('.approval[data-id="' + selectedId + '"]');
    button.click(); // htmx sends the form now (hx-boost), before the pane is replaced
    if (html && window.htmx && busy) {
      if (decided) decided.hidden = true;
      window.htmx.swap(pane(), html, { swapStyle: "innerHTML" }, { eventInfo: { ahead: true } });
    }
    return true;
  }
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (event.detail.target && event.detail.target.id === "inbox-pane") busy = true;
  });
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (box.matches && box.matches(".approval input[type=checkbox]")) {
      if (box.checked) checked.add(box.value); else checked.delete(box.value);
      countChecked();
    }
  });
  document.addEventListener("click", function (event) {
    if (!event.target.closest) return;
    if (event.target.closest("[data-shortcuts-toggle]")) { toggleHelp(); return; }
    if (event.target.closest("#pane-next") && !(event.ctrlKey || event.metaKey || event.shiftKey || event.button)) {
      event.preventDefault();
      openOffered();
      return;
    }
    var link = event.target.closest("li.approval a.row-link");
    if (link && pane() && !(event.ctrlKey || event.metaKey || event.shiftKey || event.button)) {
      event.preventDefault();
      show(link.closest("li.approval"));
    }
  });
  document.addEventListener("DOMContentLoaded", function () { restoreRows(); fetchAhead(); });

  // A generated answer form with variants (approvals/answer_form.py): one fieldset per variant,
  // each with its radio; with JavaScript only the chosen one's fields show, and typing in a
  // variant's field chooses it.
  function showVariants() {
    document.querySelectorAll("#answer-form").forEach(function (form) {
      form.querySelectorAll(".answer-variant").forEach(function (set) {
        var radio = set.querySelector("input[name=answer_variant]");
        set.classList.toggle("unchosen", !(radio && radio.checked));
      });
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.name === "answer_variant") showVariants();
  });
  document.addEventListener("focusin", function (event) {
    var set = event.target.closest && event.target.closest(".answer-variant");
    var radio = set && set.querySelector("input[name=answer_variant]");
    if (radio && event.target !== radio && !radio.checked) { radio.checked = true; showVariants(); }
  });
  document.addEventListener("DOMContentLoaded", showVariants);
  document.addEventListener("htmx:afterSwap", showVariants);
  document.addEventListener("htmx:load", showVariants); // a refused answer (422) swapped into the pane

  // A key pressed while a pane request is in flight waits for the new pane (one key, one decision).
  function handleKey(key) {
    switch (key) {
      case "j": move(1); return true;
      case "k": move(-1); return true;
      case "Enter": {
        var row = document.querySelector(".approval.selected");
        if (row) { window.location.href = row.dataset.href; return true; }
        return false;
      }
      case "x": {
        var current = document.querySelector(".approval.selected input[type=checkbox]");
        if (current) { current.checked = !current.checked; current.dispatchEvent(new Event("change", { bubbles: true })); }
        return true;
      }
      case "n": {
        var next = document.querySelector("#next-form button[type=submit]");
        if (next) { next.click(); return true; }
        return false;
      }
      case "a": return approveShowingNext();
      case ".": {
        var bar = document.getElementById("show-new");
        if (bar) bar.click();
        return !!bar;
      }
      case "r": return openPanel("reject-panel", "select, input:not([type=hidden]), textarea");
      case "e": return openPanel("edit-panel", "input:not([type=hidden]), select, textarea");
      case "?": toggleHelp(); return true;
      default: return false;
    }
  }
  ready = function () {
    busy = false;
    fetchAhead();
    var key = queuedKey;
    queuedKey = null;
    if (key) handleKey(key);
  };

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape" && typing(event.target)) { event.target.blur(); return; }
    if (typing(event.target)) return;
    if (busy && "jkare".indexOf(event.key) >= 0) {
      if (!queuedKey) queuedKey = event.key;
      event.preventDefault();
      return;
    }
    if (handleKey(event.key)) event.preventDefault();
  });
})();
