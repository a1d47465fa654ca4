// The overview's sparklines: the last day of each dataset's first numeric series, averaged, on a canvas.
(function () {
  "use strict";
  var css = getComputedStyle(document.documentElement);
  var drawn = [];  // [canvas, series] pairs, redrawn in the new palette when dark mode is switched

  function draw(canvas, series) {
    var ctx = canvas.getContext("2d");
    var w = canvas.width, h = canvas.height, pad = 3;
    ctx.clearRect(0, 0, w, h);
    var t = series.time, v = series.avg || series.value;
    var now = Date.now() / 1000, t0 = now - 86400;
    var lo = Infinity, hi = -Infinity;
    v.forEach(function (x) { if (typeof x === "number") { lo = Math.min(lo, x); hi = Math.max(hi, x); } });
    if (lo === Infinity) return false;
    if (hi === lo) { hi += 1; lo -= 1; }
    ctx.strokeStyle = css.getPropertyValue("--accent").trim() || "#0969da";
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    var started = false;
    for (var i = 0; i < t.length; i++) {
      if (typeof v[i] !== "number") { started = false; continue; }
      var x = pad + (w - 2 * pad) * (t[i] - t0) / 86400;
      var y = h - pad - (h - 2 * pad) * (v[i] - lo) / (hi - lo);
      if (started) ctx.lineTo(x, y); else ctx.moveTo(x, y);
      started = true;
    }
    ctx.stroke();
    return true;
  }

  function empty(canvas) {
    canvas.classList.add("empty");
    canvas.setAttribute("aria-label", "No numeric data in the last day");
  }

  if (window.matchMedia) {
    var scheme = window.matchMedia("(prefers-color-scheme: dark)");
    if (scheme.addEventListener) scheme.addEventListener("change", function () {
      css = getComputedStyle(document.documentElement);
      drawn.forEach(function (pair) { draw(pair[0], pair[1]); });
    });
  }

  document.querySelectorAll("canvas[data-spark]").forEach(function (canvas) {
    var url = "/api/v1/datasets/" + canvas.dataset.spark +
      "/data?format=columns&bucket=auto&points=" + canvas.width + "&agg=avg&start=-24h&end=now";
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
      .then(function (doc) {
        var numeric = (doc.series || []).filter(function (s) {
          return (s.avg || s.value || []).some(function (x) { return typeof x === "number"; });
        });
        if (!numeric.length || !draw(canvas, numeric[0])) empty(canvas);
        else {
          drawn.push([canvas, numeric[0]]);
          canvas.dataset.drawn = "1";
        }
      })
      .catch(function () { empty(canvas); });
  });
})();
