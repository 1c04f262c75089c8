// The diff page opens at the first divergent step (unless the address names another place).
(function () {
  var row = document.getElementById("first-divergence");
  if (row && !location.hash) row.scrollIntoView({block: "center"});
})();
