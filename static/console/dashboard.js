// The dashboard's charts, from the figures in #dashboard-data (json_script); needs Chart.js first.
(function () {
  var d = JSON.parse(document.getElementById("dashboard-data").textContent), charts = [];
  var palette = ["#2458d6", "#e07a10", "#1f9d8f", "#b04fc9", "#c43c5e", "#6b8e23", "#8a6d3b", "#4f6d8a"];
  var statusColours = {succeeded: "#1f9d55", failed: "#d92d20", cancelled: "#98a2b3", running: "#2e90fa", waiting: "#f79009", queued: "#84caff"};
  // Seconds to the unit that keeps the axis readable.
  function scale(values) {
    var max = Math.max.apply(null, values.filter(function (v) { return v !== null; }).concat([0]));
    var u = max >= 7200 ? [3600, "h"] : max >= 120 ? [60, "min"] : max >= 1 ? [1, "s"] : [0.001, "ms"];
    return {unit: u[1], values: function (vs) { return vs.map(function (v) { return v === null ? null : v / u[0]; }); }};
  }
  function draw(id, type, datasets, extra) {
    var canvas = document.getElementById(id);
    if (!canvas) return;
    charts.push(new Chart(canvas, {type: type, data: {labels: d.labels, datasets: datasets}, options: Object.assign({
      animation: false, maintainAspectRatio: false, spanGaps: false,
      interaction: type === "line" ? {mode: "nearest", axis: "x", intersect: false} : {mode: "nearest", intersect: true},
      // A click lists the runs of that bucket (and status, agent or model): links come from the server.
      onClick: function (e, items) { var it = items[0], links = it && this.data.datasets[it.datasetIndex].links; if (links && links[it.index]) location.href = links[it.index]; },
      onHover: function (e, items) { e.native.target.style.cursor = items.length && this.data.datasets[items[0].datasetIndex].links ? "pointer" : "default"; }
    }, extra)}));
  }
  function stacked(yTitle) { return {scales: {x: {stacked: true}, y: {stacked: true, beginAtZero: true, title: {display: true, text: yTitle}}}}; }
  function bars(rows, links, key) {
    return rows.map(function (r, i) { return {label: r.name, data: r.series[key], backgroundColor: palette[i % palette.length], links: links[r.name]}; });
  }
  function drawAll() {
    var css = getComputedStyle(document.documentElement);
    Chart.defaults.color = css.getPropertyValue("--pico-muted-color").trim() || "#666";
    Chart.defaults.borderColor = css.getPropertyValue("--pico-muted-border-color").trim() || "#ddd";
    Chart.defaults.scale.ticks.maxRotation = 0;
    var s = d.series, runs = [];
    Object.keys(statusColours).forEach(function (st) {
      if (s.runs_by_status[st].some(function (n) { return n; })) runs.push({label: st, data: s.runs_by_status[st], backgroundColor: statusColours[st], links: d.links.by_status[st]});
    });
    draw("chart-runs", "bar", runs, stacked("runs"));
    draw("chart-error-rate", "line", [{label: "failed / finished", data: s.error_rate.map(function (r) { return r === null ? null : r * 100; }), borderColor: statusColours.failed, backgroundColor: statusColours.failed, links: d.links.failed_by_bucket}],
         {scales: {y: {beginAtZero: true, suggestedMax: 10, title: {display: true, text: "%"}}}});
    var dur = scale(s.p50_seconds.concat(s.p95_seconds));
    draw("chart-duration", "line", [
      {label: "p50", data: dur.values(s.p50_seconds), borderColor: palette[0], backgroundColor: palette[0], links: d.links.runs_by_bucket},
      {label: "p95", data: dur.values(s.p95_seconds), borderColor: palette[1], backgroundColor: palette[1], links: d.links.runs_by_bucket}
    ], {scales: {y: {beginAtZero: true, title: {display: true, text: dur.unit}}}});
    var wait = scale(d.decisions.median_seconds);
    draw("chart-decision", "bar", [{label: "median to decision", data: wait.values(d.decisions.median_seconds), backgroundColor: statusColours.waiting}],
         {scales: {y: {beginAtZero: true, title: {display: true, text: wait.unit}}}});
    draw("chart-tokens", "bar", bars(d.agents, d.links.agents_by_bucket, "tokens"), stacked("tokens"));
    draw("chart-cost", "bar", bars(d.models, d.links.models_by_bucket, "cost"), stacked("USD"));
  }
  if (!window.Chart) return;
  drawAll();
  // Follow the theme toggle: Chart.js paints with the colours it had when drawn.
  new MutationObserver(function () { charts.forEach(function (c) { c.destroy(); }); charts = []; drawAll(); })
    .observe(document.documentElement, {attributes: true, attributeFilter: ["data-theme"]});
})();
