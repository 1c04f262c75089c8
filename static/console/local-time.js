// Show <time data-local> in the browser's time zone: relative when within a day ("5 min ago"),
// else the local date and time. The UTC time the server rendered stays in the title (hover).
(function () {
  "use strict";
  var relative = window.Intl && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(undefined, { numeric: "auto" }) : null;
  function describe(when) {
    var seconds = Math.round((when.getTime() - Date.now()) / 1000), size = Math.abs(seconds);
    if (relative && size < 60) return relative.format(seconds, "second");
    if (relative && size < 3600) return relative.format(Math.round(seconds / 60), "minute");
    if (relative && size < 86400) return relative.format(Math.round(seconds / 3600), "hour");
    return when.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  }
  function localize(root) {
    (root || document).querySelectorAll("time[data-local]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when)) return;
      if (!el.title) el.title = when.toISOString().replace("T", " ").slice(0, 19) + " UTC";
      el.textContent = describe(when);
    });
  }
  document.addEventListener("DOMContentLoaded", function () { localize(); });
  document.addEventListener("htmx:afterSwap", function (e) { localize(e.target); });
  document.addEventListener("htmx:oobAfterSwap", function (e) { localize(e.target); });
})();
