// Hài Lòng dashboard: the period form and the charts (Chart.js, served from
// /static/vendor/chartjs). The page puts its numbers in <script type="application/json"
// id="chart-data">; nothing runs inline (CSP).

// The period form: dates typed day first (dd/mm/yyyy) whatever the browser's language. A
// date is checked as it is typed; one that is no real day (31/02/2026) keeps the form from
// being sent and says why, so a typed date never becomes another one. Eight digits
// (15112026) are shown as 15/11/2026 when the field is left. Only the fields the chosen
// period uses are shown and sent: the date for day…year, From and To for a custom period.
(function () {
  "use strict";
  var form = document.querySelector("form.filters");
  if (!form) { return; }

  function realDay(text) {
    var m = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(text) || /^(\d{2})(\d{2})(\d{4})$/.exec(text);
    if (!m) { return null; }
    var d = +m[1], mo = +m[2], y = +m[3];
    var t = new Date(Date.UTC(y, mo - 1, d));
    return t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d
      ? [d, mo, y] : null;
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  var fields = form.querySelectorAll(".daybox input");
  Array.prototype.forEach.call(fields, function (input) {
    function check() {
      var text = input.value.trim();
      input.setCustomValidity(text && !realDay(text) ? input.dataset.bad : "");
      input.setAttribute("aria-invalid", input.validity.valid ? "false" : "true");
    }
    input.addEventListener("input", check);
    input.addEventListener("blur", function () {
      var day = realDay(input.value.trim());
      if (day && /^\d{8}$/.test(input.value.trim())) {
        input.value = pad(day[0]) + "/" + pad(day[1]) + "/" + day[2];
      }
      check();
    });
    check();
  });
  form.addEventListener("submit", function (event) {
    if (!form.checkValidity()) { event.preventDefault(); form.reportValidity(); }
  });

  var kind = form.querySelector("select[name=period]");
  function showFields() {
    var custom = kind && kind.value === "custom";
    Array.prototype.forEach.call(form.querySelectorAll(".daybox"), function (box) {
      var used = (box.dataset.for === "custom") === custom;
      box.hidden = !used;
      box.querySelector("input").disabled = !used;
    });
  }
  if (kind) { kind.addEventListener("change", showFields); showFields(); }
}());

// Tables (every one of a page) wider than a phone scroll inside their card: such a region must be reachable by
// keyboard (tabindex) and named (axe: scrollable-region-focusable).
(function () {
  "use strict";
  Array.prototype.forEach.call(document.querySelectorAll("main table"), function (t) {
    var wrap = t.parentElement;
    if (!wrap.classList.contains("tablewrap") && !wrap.classList.contains("heatwrap")) {
      wrap = document.createElement("div");
      wrap.className = "tablewrap";
      t.parentNode.insertBefore(wrap, t);
      wrap.appendChild(t);
    }
    var caption = t.getAttribute("aria-label") || (t.caption && t.caption.textContent) ||
      (t.closest("section") && t.closest("section").querySelector("h2") &&
       t.closest("section").querySelector("h2").textContent) || "";
    function mark() {
      if (wrap.scrollWidth > wrap.clientWidth + 1) {
        wrap.setAttribute("tabindex", "0");
        wrap.setAttribute("role", "region");
        if (caption) { wrap.setAttribute("aria-label", caption.trim()); }
      } else {
        wrap.removeAttribute("tabindex");
        wrap.removeAttribute("role");
      }
    }
    mark();
    window.addEventListener("resize", mark);
  });
}());

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
