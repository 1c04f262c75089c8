// Show <time data-local> in the browser's time zone; the UTC time stays in the title (hover).
(function () {
  "use strict";
  function localize(root) {
    (root || document).querySelectorAll("time[data-local]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (!isNaN(when)) el.textContent = when.toLocaleString();
    });
  }
  document.addEventListener("DOMContentLoaded", function () { localize(); });
  document.addEventListener("htmx:afterSwap", function (e) { localize(e.target); });
})();
