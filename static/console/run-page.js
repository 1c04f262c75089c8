// The run page: mark the opened step, and copy buttons for payloads.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var row = event.target.closest && event.target.closest("a.span-row");
    if (row) {
      document.querySelectorAll("a.span-row.selected").forEach(function (r) { r.classList.remove("selected"); });
      row.classList.add("selected");
    }
    var copy = event.target.closest && event.target.closest("[data-copy]");
    if (copy) {
      var source = document.querySelector(copy.getAttribute("data-copy"));
      if (source && navigator.clipboard) {
        navigator.clipboard.writeText(source.textContent).then(function () { copy.textContent = "Copied"; });
      }
    }
  });
})();
