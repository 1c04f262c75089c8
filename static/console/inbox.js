// Keyboard shortcuts for the reviewers' pages. Off while typing; the page works without them.
(function () {
  "use strict";
  var selectedId = null;
  var checked = new Set();

  function typing(target) {
    var tag = (target && target.tagName) || "";
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("tr.approval")); }
  function select(row) {
    rows().forEach(function (r) { r.classList.remove("selected"); r.removeAttribute("aria-selected"); });
    if (!row) { selectedId = null; return; }
    row.classList.add("selected");
    row.setAttribute("aria-selected", "true");
    selectedId = row.dataset.id;
    row.scrollIntoView({ block: "nearest" });
  }
  function move(step) {
    var list = rows();
    if (!list.length) return;
    var index = list.findIndex(function (r) { return r.dataset.id === selectedId; });
    index = index < 0 ? (step > 0 ? 0 : list.length - 1) : Math.min(list.length - 1, Math.max(0, index + step));
    select(list[index]);
  }
  function click(selector) {
    var element = document.querySelector(selector);
    if (element) element.click();
    return !!element;
  }
  function toggleHelp() {
    var dialog = document.getElementById("shortcuts");
    if (!dialog) return;
    if (dialog.open) dialog.close(); else dialog.showModal();
  }
  function countChecked() {
    var counter = document.getElementById("bulk-count");
    if (counter) counter.textContent = String(checked.size);
  }

  // Live updates replace the rows: keep the reviewer's selection and checked boxes.
  document.addEventListener("htmx:wsAfterMessage", function () {
    rows().forEach(function (r) {
      var box = r.querySelector("input[type=checkbox]");
      if (box) box.checked = checked.has(r.dataset.id);
      if (r.dataset.id === selectedId) r.classList.add("selected");
    });
    checked.forEach(function (id) { if (!document.querySelector('tr.approval[data-id="' + id + '"]')) checked.delete(id); });
    countChecked();
  });
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (box.matches && box.matches("tr.approval input[type=checkbox]")) {
      if (box.checked) checked.add(box.value); else checked.delete(box.value);
      countChecked();
    }
  });
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-shortcuts-toggle]")) toggleHelp();
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape" && typing(event.target)) { event.target.blur(); return; }
    if (typing(event.target)) return;
    var handled = true;
    switch (event.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "Enter": {
        var row = document.querySelector("tr.approval.selected");
        if (row) window.location.href = row.dataset.href; else handled = false;
        break;
      }
      case "x": {
        var current = document.querySelector("tr.approval.selected input[type=checkbox]");
        if (current) { current.checked = !current.checked; current.dispatchEvent(new Event("change", { bubbles: true })); }
        break;
      }
      case "n": handled = click("#next-form button[type=submit]"); break;
      case "a": handled = click("#approve-button"); break;
      case "r": {
        var reason = document.getElementById("reject-reason");
        if (reason) { document.getElementById("reject-panel").open = true; reason.focus(); } else handled = false;
        break;
      }
      case "e": {
        var panel = document.getElementById("edit-panel");
        if (panel) { panel.open = true; var first = panel.querySelector("input:not([type=hidden]), select, textarea"); if (first) first.focus(); } else handled = false;
        break;
      }
      case "?": toggleHelp(); break;
      default: handled = false;
    }
    if (handled) event.preventDefault();
  });
})();
