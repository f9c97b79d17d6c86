// Hài Lòng dashboard charts (Chart.js, served from /static/vendor/chartjs). The page puts its
// numbers in <script type="application/json" id="chart-data">; nothing runs inline (CSP).
(function () {
  "use strict";
  var node = document.getElementById("chart-data");
  if (!node || typeof Chart === "undefined") { return; }
  var data = JSON.parse(node.textContent);
  var lang = document.documentElement.lang || "vi";
  var blue = "#0b5394", green = "#2e8540", amber = "#e0a100", red = "#c0392b";
  Chart.defaults.font.family = getComputedStyle(document.documentElement).fontFamily;
  Chart.defaults.animation = false;
  var fmt = new Intl.NumberFormat(lang === "vi" ? "vi-VN" : "en-GB", { maximumFractionDigits: 1 });

  function make(id, config) {
    var el = document.getElementById(id);
    if (el) { new Chart(el, config); }
  }

  if (data.kind === "overview") {
    make("chart-units", {
      type: "bar",
      data: { labels: data.labels, datasets: [
        { label: data.l_index, data: data.index, backgroundColor: blue },
        { label: data.l_satisfaction, data: data.satisfaction, backgroundColor: "#9ecae1" } ] },
      options: { indexAxis: "y", maintainAspectRatio: false,
        scales: { x: { min: 0, max: 100 } },
        plugins: { tooltip: { callbacks: { label: function (c) {
          return c.dataset.label + ": " + fmt.format(c.parsed.x); } } } } }
    });
  }

  if (data.kind === "unit") {
    make("chart-trend", {
      data: { labels: data.trend.labels, datasets: [
        { type: "bar", label: data.l_votes, data: data.trend.votes, backgroundColor: "#c6dbef",
          yAxisID: "votes", order: 2 },
        { type: "line", label: data.l_index, data: data.trend.index, borderColor: blue,
          backgroundColor: blue, yAxisID: "pct", spanGaps: true, order: 1 },
        { type: "line", label: data.l_satisfaction, data: data.trend.satisfaction,
          borderColor: green, backgroundColor: green, yAxisID: "pct", spanGaps: true, order: 1 } ] },
      options: { maintainAspectRatio: false, interaction: { mode: "index", intersect: false },
        scales: { votes: { position: "right", beginAtZero: true, grid: { display: false } },
                  pct: { position: "left", min: 0, max: 100 } } }
    });
    var scales = Object.keys(data.levels);
    if (scales.length) {
      var s = scales[scales.length - 1];
      var counts = data.levels[s];
      var palette = { 3: [red, amber, green], 4: [red, "#e67e22", "#8bc34a", green],
                      5: [red, "#e67e22", amber, "#8bc34a", green] }[s];
      make("chart-levels", {
        type: "bar",
        data: { labels: data.level_names[s], datasets: [
          { label: data.l_votes, data: counts, backgroundColor: palette } ] },
        options: { maintainAspectRatio: false, plugins: { legend: { display: false } },
                   scales: { y: { beginAtZero: true } } }
      });
    }
  }
}());
