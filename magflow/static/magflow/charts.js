/* MagFlow dashboard: small hand-written SVG charts (no library, no CDN) and the live refresh
 * of a running sync. Data comes from the <script id="mf-chart-data"> JSON the server renders. */
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var W = 330, H = 140, PAD_L = 36, PAD_R = 30, PAD_T = 18, PAD_B = 20;

  function el(name, attrs, text) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function niceMax(value) {
    if (!value || value <= 0) return 1;
    var power = Math.pow(10, Math.floor(Math.log10(value)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * power >= value) return steps[i] * power;
    return 10 * power;
  }

  function frame(svg, title, maxLeft, unitLeft, maxRight, unitRight) {
    svg.appendChild(el("text", {x: 0, y: 11, "class": "mf-title"}, title));
    svg.appendChild(el("line", {x1: PAD_L, y1: H - PAD_B, x2: W - PAD_R, y2: H - PAD_B, "class": "mf-axis"}));
    [0, 0.5, 1].forEach(function (f) {
      var y = H - PAD_B - f * (H - PAD_B - PAD_T);
      svg.appendChild(el("line", {x1: PAD_L, y1: y, x2: W - PAD_R, y2: y, "class": "mf-axis", "stroke-dasharray": "2,3"}));
      svg.appendChild(el("text", {x: PAD_L - 4, y: y + 3, "text-anchor": "end"}, fmt(maxLeft * f) + unitLeft));
      if (maxRight !== null) {
        svg.appendChild(el("text", {x: W - PAD_R + 4, y: y + 3}, fmt(maxRight * f) + unitRight));
      }
    });
  }

  function fmt(value) {
    if (value >= 1000) return (value / 1000).toFixed(value >= 10000 ? 0 : 1) + "k";
    return value >= 10 || value === 0 ? String(Math.round(value)) : value.toFixed(1);
  }

  function empty(container, message) {
    var p = document.createElement("p");
    p.className = "mf-empty-chart";
    p.textContent = message;
    container.appendChild(p);
  }

  function runsChart(container, runs) {
    if (!runs.length) return empty(container, "Durations appear after the first finished sync.");
    var svg = el("svg", {viewBox: "0 0 " + W + " " + H, role: "img"});
    var maxDuration = niceMax(Math.max.apply(null, runs.map(function (r) { return r.duration; })));
    var maxRejected = niceMax(Math.max.apply(null, runs.map(function (r) { return r.rejected; })));
    frame(svg, "Last " + runs.length + " runs: duration (bars), rejections (red)", maxDuration, "s", maxRejected, "");
    var plotW = W - PAD_L - PAD_R, plotH = H - PAD_T - PAD_B, slot = plotW / runs.length;
    var points = [];
    runs.forEach(function (run, i) {
      var h = plotH * run.duration / maxDuration, x = PAD_L + i * slot;
      var barW = Math.min(24, Math.max(1, slot * 0.7));
      var bar = el("rect", {x: x + (slot - barW) / 2, y: H - PAD_B - h, width: barW, height: Math.max(h, 1),
                            "class": "mf-bar " + run.status});
      bar.appendChild(el("title", {}, "#" + run.id + " " + run.at + ": " + run.duration + " s, " + run.rejected +
                         " rejected (" + run.status.replace(/_/g, " ") + ")"));
      svg.appendChild(bar);
      points.push([x + slot / 2, H - PAD_B - plotH * run.rejected / maxRejected]);
    });
    svg.appendChild(el("polyline", {points: points.map(function (p) { return p.join(","); }).join(" "), "class": "mf-rejections"}));
    points.forEach(function (p) { svg.appendChild(el("circle", {cx: p[0], cy: p[1], r: 2, "class": "mf-dot"})); });
    svg.appendChild(el("text", {x: PAD_L, y: H - 4}, runs[0].at));
    svg.appendChild(el("text", {x: W - PAD_R, y: H - 4, "text-anchor": "end"}, runs[runs.length - 1].at));
    container.appendChild(svg);
  }

  function offersChart(container, runs) {
    var known = runs.filter(function (r) { return r.offers !== null; });
    if (!known.length) return empty(container, "Offer counts appear after the first complete sync.");
    var svg = el("svg", {viewBox: "0 0 " + W + " " + H, role: "img"});
    var maxOffers = niceMax(Math.max.apply(null, known.map(function (r) { return r.offers; })));
    frame(svg, "Offers on eMAG, after each complete sync", maxOffers, "", null, "");
    var plotW = W - PAD_L - PAD_R, plotH = H - PAD_T - PAD_B;
    var step = known.length > 1 ? plotW / (known.length - 1) : 0;
    var pts = known.map(function (r, i) {
      return [PAD_L + (known.length > 1 ? i * step : plotW / 2), H - PAD_B - plotH * r.offers / maxOffers];
    });
    var line = pts.map(function (p) { return p.join(","); }).join(" ");
    svg.appendChild(el("polygon", {points: PAD_L + "," + (H - PAD_B) + " " + line + " " + pts[pts.length - 1][0] + "," + (H - PAD_B),
                                   "class": "mf-area"}));
    svg.appendChild(el("polyline", {points: line, "class": "mf-line"}));
    pts.forEach(function (p, i) {
      var dot = el("circle", {cx: p[0], cy: p[1], r: 2.5, "class": "mf-dot", style: "fill:#2e8b57"});
      dot.appendChild(el("title", {}, known[i].at + ": " + known[i].offers + " offers"));
      svg.appendChild(dot);
    });
    svg.appendChild(el("text", {x: PAD_L, y: H - 4}, known[0].at));
    svg.appendChild(el("text", {x: W - PAD_R, y: H - 4, "text-anchor": "end"}, known[known.length - 1].at));
    container.appendChild(svg);
  }

  function render(root) {
    var script = root.querySelector("#mf-chart-data");
    if (!script) return;
    var data = JSON.parse(script.textContent);
    root.querySelectorAll(".mf-chart").forEach(function (container) {
      container.textContent = "";
      var account = data.filter(function (a) { return a.account === container.dataset.account; })[0];
      if (!account) return;
      (container.dataset.chart === "runs" ? runsChart : offersChart)(container, account.runs);
    });
  }

  // While a sync runs, fetch the page again and swap the dashboard in place: live progress without a reload.
  function refresh() {
    var current = document.getElementById("mf-dashboard");
    if (!current) return;
    var delay = current.dataset.active === "1" ? 2000 : 15000;
    window.setTimeout(function () {
      fetch(window.location.href, {credentials: "same-origin", headers: {"X-Requested-With": "fetch"}})
        .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
        .then(function (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("mf-dashboard");
          if (fresh) {
            current.replaceWith(fresh);
            render(fresh);
          }
        })
        .catch(function () { /* a missed refresh is retried at the next tick */ })
        .then(refresh);
    }, delay);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("mf-dashboard");
    if (!root) return;
    render(root);
    refresh();
  });
  window.MagFlowCharts = {render: render};
})();
