// Loaded in <head> on every page, before the stylesheets and without defer: the theme is set
// before the first paint, so the page never flashes the other theme. (A file, not an inline
// script: the Content-Security-Policy allows scripts from the console's own origin only.)
(function () {
  "use strict";
  var root = document.documentElement, key = "steward-theme", saved = null;
  try { saved = localStorage.getItem(key); } catch (e) {}
  root.dataset.theme = saved === "dark" || saved === "light" ? saved
    : (window.matchMedia && matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
  document.addEventListener("click", function (e) {
    if (!e.target.closest || !e.target.closest("#theme-toggle")) return;
    root.dataset.theme = root.dataset.theme === "dark" ? "light" : "dark";
    try { localStorage.setItem(key, root.dataset.theme); } catch (e2) {}
  });
  // <form data-confirm="Question?">: ask before sending (instead of an inline onsubmit handler).
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) e.preventDefault();
  });
})();
