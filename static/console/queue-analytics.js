// A queue's analytics charts, from the figures in #queue-stats (json_script); needs Chart.js first.
(function () {
  var s = JSON.parse(document.getElementById("queue-stats").textContent);
  var colours = {approved: "#1f7a3d", rejected: "#b3261e", responded: "#175cd3", expired: "#9a6700", cancelled: "#98a2b3"};
  function draw(id, type, counts, colour, extra) {
    var canvas = document.getElementById(id);
    if (!canvas || !window.Chart) return;
    var labels = Object.keys(counts);
    new Chart(canvas, {
      type: type,
      data: {labels: labels.map(function (l) { return l || "(no code)"; }),
             datasets: [{data: labels.map(function (l) { return counts[l]; }), backgroundColor: colour(labels)}]},
      options: Object.assign({animation: false, maintainAspectRatio: false, plugins: {legend: {display: type === "doughnut"}},
                              scales: type === "doughnut" ? {} : {y: {beginAtZero: true, ticks: {precision: 0}}}}, extra)
    });
  }
  var perDay = {};
  s.requests_per_day.forEach(function (d) { perDay[d.date.slice(5)] = d.count; });
  draw("chart-per-day", "bar", perDay, function () { return "#175cd3"; });
  draw("chart-outcomes", "doughnut", s.outcomes, function (ls) { return ls.map(function (l) { return colours[l]; }); });
  draw("chart-reasons", "bar", s.rejection_reasons, function () { return "#b3261e"; });
  draw("chart-reviewers", "bar", s.decisions_per_reviewer, function () { return "#344054"; });
})();
