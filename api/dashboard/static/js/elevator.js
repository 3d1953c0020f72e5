/* The elevator page: charts of the bucketed history (uPlot), inspections and maintenance. */
"use strict";
(function () {
  var box = document.getElementById("charts");
  if (!box) return;
  var id = box.dataset.elevator;
  var BUCKETS = {1: [10, "10s"], 3: [30, "30s"], 12: [120, "2m"], 24: [300, "5m"]};
  var CHARTS = {
    position: {
      series: [["chart.position", "pos_avg", "m", "#0969da"], ["chart.lowest", "pos_min", "m", "#9ec5fe"],
               ["chart.highest", "pos_max", "m", "#9ec5fe"], ["chart.speed_max", "speed_max", "mps", "#bf3989"]],
      axes: [["m", "m", 1], ["mps", "m/s", 1]]
    },
    load: {series: [["chart.average", "load_avg", "kg", "#1a7f37"], ["chart.max", "load_max", "kg", "#8fd19e"]],
           axes: [["kg", "kg"]]},
    temperature: {series: [["chart.average", "temp_avg", "c", "#bc4c00"], ["chart.max", "temp_max", "c", "#fb8f44"]],
                  axes: [["c", "°C", 1]]},
    vibration: {series: [["chart.average", "vib_avg", "v", "#8250df"], ["chart.max", "vib_max", "v", "#c297ff"]],
                axes: [["v", "m/s²", 2]]}
  };
  var plots = {};
  var ZONE = box.dataset.zone || Whistle.zone;
  var CLOCK = new Intl.DateTimeFormat(Whistle.lang, {timeZone: ZONE, hour: "2-digit",
                                                     minute: "2-digit", hourCycle: "h23"});
  var STAMP = new Intl.DateTimeFormat(Whistle.lang, {timeZone: ZONE, year: "numeric",
    month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
    hourCycle: "h23"});
  function clock(ts) { return CLOCK.format(new Date(ts * 1000)); }
  function stamp(ts) { return STAMP.format(new Date(ts * 1000)); }

  function columns(rows, keys, step) {
    var cols = [[]].concat(keys.map(function () { return []; }));
    var prev = null;
    rows.forEach(function (r) {
      var t = Date.parse(r.ts) / 1000;
      if (prev !== null && t - prev > 1.5 * step) {  // no data: a gap, not a straight line
        cols[0].push(prev + step);
        keys.forEach(function (k, i) { cols[i + 1].push(null); });
      }
      cols[0].push(t);
      keys.forEach(function (k, i) { cols[i + 1].push(r[k] === undefined ? null : r[k]); });
      prev = t;
    });
    return cols;
  }

  function draw(rows, step) {
    Object.keys(CHARTS).forEach(function (name) {
      var spec = CHARTS[name];
      var el = box.querySelector('[data-chart="' + name + '"]');
      var keys = spec.series.map(function (s) { return s[1]; });
      var data = columns(rows, keys, step);
      if (plots[name]) { plots[name].destroy(); delete plots[name]; }
      el.textContent = "";
      var values = keys.some(function (k, i) {
        return data[i + 1].some(function (v) { return v !== null; });
      });
      el.dataset.points = String(rows.length);
      if (!values) {
        el.dataset.state = "empty";
        el.textContent = Whistle.t("chart.empty");
        return;
      }
      var opts = {
        width: Math.max(280, el.clientWidth), height: 190,
        scales: {x: {time: true}},
        /* The time axis in WHISTLE_TIMEZONE (as every time on the pages), not the browser's. */
        tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), ZONE); },
        legend: {live: true},
        series: [{label: Whistle.t("chart.time") + " (" + ZONE + ")",
                  value: function (u, v) { return v == null ? "—" : stamp(v); }}].concat(spec.series.map(function (s) {
          return {label: Whistle.t(s[0]), scale: s[2], stroke: s[3], width: 1.5, spanGaps: false,
                  value: function (u, v) { return v == null ? "—" : v.toFixed(2); }};
        })),
        axes: [{values: function (u, vals) { return vals.map(function (v) { return v == null ? "" : clock(v); }); }}].concat(spec.axes.map(function (a, i) {
          return {scale: a[0], label: a[1], side: i === 0 ? 3 : 1, size: 56,
                  grid: {show: i === 0},
                  values: function (u, vals) { return vals.map(function (v) { return v == null ? "" : v.toFixed(a[2] || 0); }); }};
        }))
      };
      plots[name] = new uPlot(opts, data, el);
      el.dataset.state = "drawn";
    });
  }

  /* A fixed window (the case page: data-start, data-end), or the last hours. */
  var FIXED = box.dataset.start ? [new Date(box.dataset.start), new Date(box.dataset.end)] : null;
  function fixedBucket(start, end) {
    var hours = (end - start) / 3600000;
    var key = [1, 3, 12, 24].filter(function (h) { return h >= hours; })[0] || 24;
    return BUCKETS[key];
  }

  async function load(hours) {
    var note = document.getElementById("chart-note");
    var b = FIXED ? fixedBucket(FIXED[0], FIXED[1]) : (BUCKETS[hours] || BUCKETS[3]);
    var end = FIXED ? FIXED[1] : new Date();
    var start = FIXED ? FIXED[0] : new Date(end.getTime() - hours * 3600 * 1000);
    box.dataset.hours = hours;
    box.querySelectorAll(".range button").forEach(function (btn) {
      btn.setAttribute("aria-pressed", String(Number(btn.dataset.hours) === hours));
    });
    try {
      var rows = await Whistle.api("GET", "/elevators/" + encodeURIComponent(id) +
        "/telemetry?bucket=" + b[1] + "&start=" + encodeURIComponent(start.toISOString()) +
        "&end=" + encodeURIComponent(end.toISOString()));
      note.textContent = rows.length
        ? Whistle.t("chart.note", {bucket: b[1], samples:
            rows.reduce(function (n, r) { return n + (r.samples || 0); }, 0)})
        : (FIXED ? Whistle.t("chart.empty") : Whistle.t("chart.none", {hours: hours}));
      draw(rows, b[0]);
      box.dataset.loaded = "true";
    } catch (err) {
      note.textContent = Whistle.t("chart.failed", {error: err.message});
    }
  }

  var range = box.querySelector(".range");
  if (range) range.addEventListener("click", function (ev) {
    var btn = ev.target.closest("button[data-hours]");
    if (btn) load(Number(btn.dataset.hours));
  });
  var resizing;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(function () {
      Object.keys(plots).forEach(function (name) {
        var el = box.querySelector('[data-chart="' + name + '"]');
        plots[name].setSize({width: Math.max(280, el.clientWidth), height: 190});
      });
    }, 150);
  });
  load(Number(box.dataset.hours) || 3);

  function recordForm(form, path, body) {
    var error = form.querySelector(".action-error");
    error.textContent = "";
    Whistle.api("POST", "/elevators/" + encodeURIComponent(id) + path, body)
      .then(function () { location.reload(); })
      .catch(function (err) { error.textContent = err.message; });
  }

  var inspection = document.getElementById("inspection-form");
  if (inspection) inspection.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var body = {result: inspection.elements.result.value};
    var notes = inspection.elements.notes.value.trim();
    if (notes) body.notes = notes;
    var seal = ev.submitter ? ev.submitter.value : "";
    if (seal === "true") body.seal = true;
    if (seal === "false") body.seal = false;
    recordForm(inspection, "/inspections", body);
  });

  var maintenance = document.getElementById("maintenance-form");
  if (maintenance) maintenance.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var notes = maintenance.elements.notes.value.trim();
    recordForm(maintenance, "/maintenance", notes ? {notes: notes} : {});
  });

  /* The status in the heading follows the alert stream. */
  Whistle.onAlert(async function () {
    try {
      var e = await Whistle.api("GET", "/elevators/" + encodeURIComponent(id));
      var badge = document.querySelector("#elevator-head .status-badge");
      if (badge && badge.dataset.status !== e.status) location.reload();
    } catch (err) { /* shown on the next load */ }
  }, id);
})();
