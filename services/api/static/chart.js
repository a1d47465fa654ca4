// Dataset charts (uPlot): a range, drag to zoom (each zoom fetches downsampled data for what is visible),
// min/max band behind the average, one line per device, live updates while the tab is visible, CSV of the view.
(function () {
  "use strict";

  var root = document.querySelector("[data-chart-root]");
  if (!root) return;
  var figures = Array.prototype.slice.call(root.querySelectorAll("figure.chart"));
  var actions = document.querySelector("[data-chart-actions]");
  var resetButton = actions && actions.querySelector("[data-reset]");
  var zoomOutButton = actions && actions.querySelector("[data-zoom-out]");
  var zoomInButton = actions && actions.querySelector("[data-zoom-in]");
  var liveBox = actions && actions.querySelector("[data-live]");
  var csvLink = actions && actions.querySelector("[data-csv]");
  var hint = actions && actions.querySelector("[data-zoom-hint]");

  var RANGES = { hour: 3600, day: 86400, week: 7 * 86400, month: 30 * 86400, year: 365 * 86400 };
  var LIVE_EVERY_MS = 5000;  // never more often: each poll is a query
  var COLORS = ["#1f6feb", "#cf222e", "#1a7f37", "#bf8700", "#8250df", "#0598bc", "#bf3989", "#6e7781"];
  var dataset = root.dataset.dataset;
  var range = root.dataset.range;
  var relative = range in RANGES || range === "all";
  var zoomed = null;  // [start, end] while zoomed in, else null
  var charts = figures.map(function (figure) {
    return { figure: figure, vars: figure.dataset.vars, names: JSON.parse(figure.dataset.names || "{}"),
             plot: figure.querySelector("[data-plot]"), bucket: figure.querySelector("[data-bucket]"),
             status: figure.querySelector("[data-status]"), uplot: null, shape: "", view: null, generation: 0 };
  });

  function say(chart, text) {
    if (!chart.status) {
      chart.status = document.createElement("p");
      chart.status.className = "muted chart-status";
    }
    chart.status.textContent = text;
    if (!chart.status.parentNode) chart.plot.appendChild(chart.status);
  }

  if (typeof window.uPlot === "undefined") {
    charts.forEach(function (c) { say(c, "Charts are unavailable: uPlot is not installed (run `make assets`)."); });
    return;
  }

  function now() { return Date.now() / 1000; }

  // The range chosen on the page, computed afresh (relative ranges move with time).
  function baseView() {
    var end = now();
    if (range === "custom") return [Number(root.dataset.start), Number(root.dataset.end)];
    if (range === "all") {
      var first = Number(root.dataset.first || 0);
      return [first ? Math.min(first, end - 60) : end - 86400, end];
    }
    return [end - RANGES[range], end];
  }

  function currentView() { return zoomed || baseView(); }

  function css(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function fade(hex, alpha) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16 & 255) + "," + (n >> 8 & 255) + "," + (n & 255) + "," + alpha + ")";
  }

  function dataUrl(format, view, vars, width) {
    var params = new URLSearchParams();
    params.set("format", format);
    if (format === "columns") {
      params.set("bucket", "auto");
      params.set("points", String(Math.max(50, Math.round(width))));
      params.set("agg", "min,max,avg");
    }
    params.set("start", String(Math.floor(view[0])));
    params.set("end", String(Math.ceil(view[1])));
    if (vars) params.set("vars", vars);
    return "/api/v1/datasets/" + dataset + "/data?" + params.toString();
  }

  function label(series, chart, many) {
    var name = (chart.names[series.variable] || {}).name || series.variable;
    var extra = [];
    if (series.device) extra.push(series.device);
    Object.keys(series.tags || {}).sort().forEach(function (k) { extra.push(k + "=" + series.tags[k]); });
    if (!extra.length) return name;
    return many ? name + " · " + extra.join(" ") : extra.join(" ");
  }

  function isNumeric(values) {
    for (var i = 0; i < values.length; i++) if (values[i] !== null) return typeof values[i] === "number";
    return false;
  }

  // uPlot's aligned data, series and bands for one chart's part of an answer.
  function build(chart, doc) {
    var list = (doc.series || []).filter(function (s) { return isNumeric(s.avg || s.value || []); });
    var variables = {};
    list.forEach(function (s) { variables[s.variable] = true; });
    var many = Object.keys(variables).length > 1;
    var tables = [], series = [{}], bands = [], shape = [];
    list.forEach(function (s, i) {
      var color = COLORS[i % COLORS.length], name = label(s, chart, many);
      if (s.avg) {
        var at = series.length;
        tables.push([s.time, s.min, s.max, s.avg]);
        series.push({ label: name + " min", stroke: fade(color, 0.35), width: 0, points: { show: false } });
        series.push({ label: name + " max", stroke: fade(color, 0.35), width: 0, points: { show: false } });
        series.push({ label: name, stroke: color, width: 1.5, points: { show: false } });
        bands.push({ series: [at + 1, at], fill: fade(color, 0.28) });
        shape.push("b:" + name);
      } else {
        tables.push([s.time, s.value]);
        series.push({ label: name, stroke: color, width: 1.5, points: { show: s.time.length < 80 } });
        shape.push("r:" + name);
      }
    });
    var data = tables.length === 0 ? [[]] : tables.length === 1 ? tables[0] : uPlot.join(tables);
    return { data: data, series: series, bands: bands, shape: shape.join("|"), count: list.length };
  }

  function plotSize(chart) {
    var width = Math.max(240, chart.plot.clientWidth);
    return { width: width, height: chart.plot.clientHeight || 300 };
  }

  // The plot takes what its reserved box leaves under the legend, measured once the legend has its new width.
  function fitLegend(chart) {
    var made = chart.uplot, size = plotSize(chart);
    made.setSize({ width: size.width, height: made.height });
    window.requestAnimationFrame(function () {
      if (chart.uplot !== made) return;
      var legend = made.root.querySelector(".u-legend");
      var used = legend ? legend.offsetHeight : 0;
      made.setSize({ width: size.width, height: Math.max(120, size.height - used - 4) });
    });
  }

  function create(chart, built) {
    if (chart.uplot) chart.uplot.destroy();
    if (chart.status && chart.status.parentNode) chart.status.remove();
    var fg = css("--fg", "#1f2328"), grid = css("--grid", "rgba(0,0,0,0.08)");
    var axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    var opts = {
      width: plotSize(chart).width,
      height: plotSize(chart).height - 34,  // about one legend row; fitted once the legend is laid out
      series: built.series,
      bands: built.bands,
      scales: { x: { time: true, range: function () { return chart.view; } } },
      axes: [axis, Object.assign({ size: 56 }, axis)],
      cursor: { drag: { x: true, y: false, setScale: false } },
      legend: { live: true },
      hooks: { setSelect: [function (u) { selected(u); }] },
    };
    chart.uplot = new uPlot(opts, built.data, chart.plot);
    chart.shape = built.shape;
    fitLegend(chart);
  }

  function render(chart, doc) {
    var built = build(chart, doc);
    if (built.count === 0) {
      if (chart.uplot) { chart.uplot.destroy(); chart.uplot = null; chart.shape = ""; }
      say(chart, "No numeric data in this time range.");
    } else if (chart.uplot && chart.shape === built.shape) {
      chart.uplot.setData(built.data);  // same lines: keep the chart, redraw with the new points
    } else {
      create(chart, built);
    }
    if (chart.bucket) chart.bucket.textContent = doc.bucket ? " · min, max and average per " + doc.bucket : "";
    chart.figure.dataset.loaded = String(chart.generation);
  }

  function load(chart) {
    var generation = ++chart.generation;
    var view = currentView();
    var url = dataUrl("columns", view, chart.vars, plotSize(chart).width);
    chart.figure.setAttribute("aria-busy", "true");
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          return response.json().catch(function () { return {}; }).then(function (body) {
            throw new Error(body.detail || body.error || "the server answered " + response.status);
          });
        }
        return response.json();
      })
      .then(function (doc) {
        if (generation !== chart.generation) return;  // a newer request is on its way
        chart.view = view;
        render(chart, doc);
      })
      .catch(function (error) {
        if (generation === chart.generation) say(chart, "Could not load the chart: " + error.message);
      })
      .then(function () { chart.figure.removeAttribute("aria-busy"); });
  }

  function loadAll() {
    lastLoad = Date.now();
    charts.forEach(load);
    updateControls();
    scheduleLive();
  }

  function updateControls() {
    var view = currentView();
    if (resetButton) { resetButton.hidden = false; resetButton.disabled = !zoomed; }
    if (zoomOutButton) zoomOutButton.hidden = false;
    if (zoomInButton) zoomInButton.hidden = false;
    if (hint) hint.hidden = false;
    if (liveBox) liveBox.parentNode.hidden = !relative;
    if (csvLink) {
      var vars = charts.map(function (c) { return c.vars; }).join(",");
      csvLink.href = dataUrl("csv", view, vars, 0);
    }
  }

  function zoomTo(start, end) {
    var span = end - start;
    if (!(span > 0.001)) return;
    zoomed = [start, end];
    loadAll();
  }

  function selected(u) {
    var select = u.select;
    if (select.width < 3) return;
    var start = u.posToVal(select.left, "x"), end = u.posToVal(select.left + select.width, "x");
    u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
    zoomTo(start, end);
  }

  if (resetButton) resetButton.addEventListener("click", function () { zoomed = null; loadAll(); });
  // Zooming from the keyboard: the middle half, or twice the span around the middle.
  if (zoomInButton) zoomInButton.addEventListener("click", function () {
    var view = currentView(), quarter = (view[1] - view[0]) / 4;
    zoomTo(view[0] + quarter, view[1] - quarter);
  });
  if (zoomOutButton) zoomOutButton.addEventListener("click", function () {
    var view = currentView(), base = baseView(), middle = (view[0] + view[1]) / 2, span = view[1] - view[0];
    var start = middle - span, end = middle + span;
    if (start <= base[0] && end >= base[1]) { zoomed = null; loadAll(); return; }
    zoomTo(Math.max(start, base[0] - span), Math.min(end, now()));
  });

  // Live: relative ranges follow now, polled 5 s after the last load at the soonest and not while the tab is hidden.
  var liveTimer = 0, lastLoad = 0;
  function live() { return relative && !zoomed && (!liveBox || liveBox.checked); }
  function scheduleLive() {
    window.clearTimeout(liveTimer);
    liveTimer = window.setTimeout(function () {
      if (live() && !document.hidden) loadAll(); else scheduleLive();
    }, LIVE_EVERY_MS);
  }
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && live() && Date.now() - lastLoad >= LIVE_EVERY_MS) loadAll();
  });

  // Axis colours come from the page's palette: a switch to or from dark mode redraws the charts in the new one.
  if (window.matchMedia) {
    var scheme = window.matchMedia("(prefers-color-scheme: dark)");
    var recolor = function () {
      charts.forEach(function (c) { c.shape = ""; });
      loadAll();
    };
    if (scheme.addEventListener) scheme.addEventListener("change", recolor);
  }

  var resizing = 0;
  window.addEventListener("resize", function () {
    window.clearTimeout(resizing);
    resizing = window.setTimeout(function () {
      charts.forEach(function (c) { if (c.uplot) fitLegend(c); });
    }, 150);
  });

  charts.forEach(function (c) { say(c, "Loading…"); });
  loadAll();
})();
