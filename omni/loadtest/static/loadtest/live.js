/* The live run page (templates/loadtest/run.html): listens on /ws/loadtests/<slug>/runs/<uuid>/
   (omni/loadtest/consumers.py), sums the shards' ticks per second, shows the latest second's
   requests/s, errors/s and p50/p95/p99 (the shards' percentiles weighted by their counts), a chart
   of the last seconds, and reloads the page (which then shows the report) when the run finishes. */
(function () {
  "use strict";
  var MAX_SECONDS = 120;
  var MAX_RECONNECTS = 20;
  var FINISHED = ["completed", "failed", "cancelled"];

  function start(root) {
    var seconds = {}; // "phase|t" -> {phase, t, count, errors, w50, w95, w99, shards}
    var order = [];
    var finished = false;
    var reconnects = 0;
    function el(name) { return root.querySelector('[data-live="' + name + '"]'); }
    function fmt(value, digits) {
      if (value === null || value === undefined || isNaN(value)) return "—";
      return Number(value).toFixed(digits);
    }
    function row(tick) {
      var phase = tick.phase || "main";
      var key = phase + "|" + tick.t;
      var entry = seconds[key];
      if (!entry) {
        entry = seconds[key] = { phase: phase, t: tick.t, count: 0, errors: 0, w50: 0, w95: 0, w99: 0, weight: 0 };
        order.push(key);
        order.sort(function (a, b) {
          var ea = seconds[a], eb = seconds[b];
          return ea.phase === eb.phase ? ea.t - eb.t : (ea.phase < eb.phase ? 1 : -1);
        });
        while (order.length > MAX_SECONDS) delete seconds[order.shift()];
      }
      var count = Number(tick.count) || 0;
      entry.count += count;
      entry.errors += Number(tick.errors) || 0;
      if (count > 0 && tick.p50 !== null && tick.p50 !== undefined) {
        entry.w50 += count * Number(tick.p50);
        entry.w95 += count * Number(tick.p95);
        entry.w99 += count * Number(tick.p99);
        entry.weight += count;
      }
      return entry;
    }
    function pct(entry, name) { return entry.weight ? entry[name] / entry.weight : null; }
    function render(latest) {
      el("rps").textContent = String(latest.count);
      el("eps").textContent = String(latest.errors);
      el("p50").textContent = fmt(pct(latest, "w50"), 1);
      el("p95").textContent = fmt(pct(latest, "w95"), 1);
      el("p99").textContent = fmt(pct(latest, "w99"), 1);
      var body = el("rows");
      while (body.firstChild) body.removeChild(body.firstChild);
      order.slice(-10).reverse().forEach(function (key) {
        var e = seconds[key];
        var tr = document.createElement("tr");
        [e.t + " s", e.phase, e.count, e.errors, fmt(pct(e, "w50"), 1), fmt(pct(e, "w95"), 1), fmt(pct(e, "w99"), 1)]
          .forEach(function (text) { var td = document.createElement("td"); td.textContent = String(text); tr.appendChild(td); });
        body.appendChild(tr);
      });
      drawChart(latest.phase);
    }
    function drawChart(phase) {
      var keys = order.filter(function (k) { return seconds[k].phase === phase; }).slice(-60);
      var ymax = 1, lmax = 1;
      keys.forEach(function (k) {
        ymax = Math.max(ymax, seconds[k].count);
        var p = pct(seconds[k], "w95");
        if (p !== null) lmax = Math.max(lmax, p);
      });
      function x(i) { return 40 + (keys.length > 1 ? (680 * i) / (keys.length - 1) : 340); }
      function y(v, top) { return 180 - (170 * v) / top; }
      function points(get, top) {
        return keys.map(function (k, i) { var v = get(seconds[k]); return v === null ? null : x(i).toFixed(1) + "," + y(v, top).toFixed(1); })
          .filter(function (p) { return p !== null; }).join(" ");
      }
      el("line-rps").setAttribute("points", points(function (e) { return e.count; }, ymax));
      el("line-eps").setAttribute("points", points(function (e) { return e.errors; }, ymax));
      el("line-p95").setAttribute("points", points(function (e) { return pct(e, "w95"); }, lmax));
      el("ymax").textContent = String(ymax);
      el("lmax").textContent = lmax.toFixed(0) + " ms";
    }
    function onFinished() {
      if (finished) return;
      finished = true;
      el("finished").hidden = false;
      setTimeout(function () { window.location.reload(); }, 300);
    }
    function connect() {
      var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      var socket = new WebSocket(scheme + window.location.host + root.getAttribute("data-ws-path"));
      socket.onopen = function () { el("connection").textContent = "live"; root.setAttribute("data-connected", "true"); };
      socket.onmessage = function (event) {
        var message;
        try { message = JSON.parse(event.data); } catch (e) { return; }
        if (message.type === "tick") {
          render(row(message));
        } else if (message.type === "status" || message.type === "state") {
          if (message.shards_total !== undefined && message.shards_total !== null) {
            el("shards").textContent = message.shards_done + " / " + message.shards_total;
          }
          if (FINISHED.indexOf(message.status) !== -1) onFinished();
        } else if (message.type === "finished") {
          onFinished();
        }
      };
      socket.onclose = function (event) {
        root.removeAttribute("data-connected");
        if (finished) return;
        if (event.code === 4403 || event.code === 4404) { el("connection").textContent = "not allowed"; return; }
        el("connection").textContent = "reconnecting…";
        if (reconnects++ < MAX_RECONNECTS) setTimeout(connect, 1000 * Math.min(reconnects, 5));
      };
    }
    connect();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("live");
    if (root) start(root);
  });
})();
