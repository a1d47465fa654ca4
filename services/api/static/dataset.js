// The dataset page: one uPlot chart per numeric variable, fed by /api/v1/datasets/{id}/chart.
(function () {
  "use strict";

  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });

  var box = document.getElementById("charts");
  if (!box) return;
  var status = box.querySelector("[data-charts-status]");
  var COLORS = ["#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#0969da", "#bf3989", "#57606a"];

  function say(text) {
    status.textContent = text;
  }

  if (typeof window.uPlot === "undefined") {
    say("Charts are unavailable: uPlot is not installed (run `make assets`).");
    return;
  }

  function byVariable(lines) {
    var groups = new Map();
    lines.forEach(function (line) {
      if (!groups.has(line.variable)) groups.set(line.variable, []);
      groups.get(line.variable).push(line);
    });
    return groups;
  }

  function draw(variable, lines, start, end) {
    var first = lines[0];
    var figure = document.createElement("figure");
    figure.className = "chart";
    var caption = document.createElement("figcaption");
    caption.textContent = first.name + (first.unit ? " (" + first.unit + ")" : "");
    if (first.bucket_s) caption.textContent += " · averages per " + first.bucket_s + " s";
    figure.appendChild(caption);
    box.appendChild(figure);

    var data = lines.length === 1 ? [first.t, first.v]
      : uPlot.join(lines.map(function (line) { return [line.t, line.v]; }));
    var series = [{}].concat(lines.map(function (line, i) {
      return {
        label: line.label || first.name,
        stroke: COLORS[i % COLORS.length],
        width: 1.5,
        points: { show: line.t.length < 60 },
      };
    }));
    var width = Math.max(280, box.clientWidth - 2);
    new uPlot({
      width: width,
      height: 220,
      scales: { x: { time: true, range: [start, end] } },
      series: series,
      axes: [{}, { label: first.unit || "", size: 60 }],
    }, data, figure);
  }

  var url = "/api/v1/datasets/" + box.dataset.dataset + "/chart?range=" + encodeURIComponent(box.dataset.range);
  say("Loading charts…");
  fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (response) {
      if (!response.ok) throw new Error("the server answered " + response.status);
      return response.json();
    })
    .then(function (chart) {
      var start = Date.parse(chart.start) / 1000;
      var end = Date.parse(chart.end) / 1000;
      var groups = byVariable(chart.lines);
      if (groups.size === 0) {
        say("No numeric data in this time range.");
        return;
      }
      status.remove();
      groups.forEach(function (lines, variable) { draw(variable, lines, start, end); });
    })
    .catch(function (error) {
      say("Could not load the charts: " + error.message);
    });
})();
