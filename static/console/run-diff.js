// The diff page opens at the first divergent step (unless the address names another place), and
// choosing a recent run in "Compare A with…" compares with it (no run id to paste).
(function () {
  var row = document.getElementById("first-divergence");
  if (row && !location.hash) row.scrollIntoView({block: "center"});
  var choice = document.querySelector("[data-compare-select]");
  if (choice) choice.addEventListener("change", function () {
    if (!choice.value) return;
    choice.form.submit();
  });
})();
