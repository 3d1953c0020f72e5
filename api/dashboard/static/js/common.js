/* Whistle dashboard: what every page shares. No framework, no build step. */
"use strict";
window.Whistle = (function () {
  function pad(n) { return String(n).padStart(2, "0"); }

  function localTime(d) {
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }

  function duration(s) {
    s = Math.max(0, Math.round(s));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min" + (s % 60 ? " " + (s % 60) + " s" : "");
    if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor(s % 3600 / 60) + " min";
    return Math.floor(s / 86400) + " d " + Math.floor(s % 86400 / 3600) + " h";
  }

  /* Times are rendered in UTC by the server; show them in the browser's time zone. */
  function localize(root) {
    (root || document).querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (!isNaN(d)) { el.title = el.textContent; el.textContent = localTime(d); }
    });
    (root || document).querySelectorAll(".age[data-since]").forEach(function (el) {
      var d = new Date(el.dataset.since);
      if (!isNaN(d)) el.textContent = duration((Date.now() - d) / 1000);
    });
  }

  /* The JSON API, with the sign-in cookie (same origin). Throws Error(detail). */
  async function api(method, path, body) {
    var init = {method: method, credentials: "same-origin", headers: {Accept: "application/json"}};
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    var r = await fetch("/api/v1" + path, init);
    var data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    if (r.status === 401) { location.href = "/signin?next=" + encodeURIComponent(location.pathname); }
    if (!r.ok) {
      var err = new Error((data && data.detail) || ("HTTP " + r.status));
      err.status = r.status;
      throw err;
    }
    return data;
  }

  function toast(message) {
    var el = document.getElementById("toast");
    if (!el) return;
    el.textContent = message;
    el.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { el.hidden = true; }, 4000);
  }

  /* Alert changes from the stream; callback(null) after a reconnect (nothing is replayed,
     so the page should refresh what it shows). */
  function onAlert(callback, elevatorId) {
    var live = document.getElementById("live");
    var url = "/api/v1/alerts/stream" + (elevatorId ? "?elevator_id=" + encodeURIComponent(elevatorId) : "");
    var lost = false;
    var source = new EventSource(url);
    function show(state, text) {
      if (live) { live.hidden = false; live.dataset.state = state; live.textContent = text; }
    }
    source.onopen = function () {
      show("live", "● live");
      if (lost) { lost = false; callback(null); }
    };
    source.onerror = function () { lost = true; show("lost", "○ reconnecting…"); };
    source.addEventListener("alert", function (ev) {
      try { callback(JSON.parse(ev.data)); } catch (e) { console.error(e); }
    });
    source.addEventListener("overflow", function () { source.close(); location.reload(); });
    window.addEventListener("pagehide", function () { source.close(); });
    return source;
  }

  document.addEventListener("DOMContentLoaded", function () {
    localize(document);
    setInterval(function () {
      document.querySelectorAll(".age[data-since]").forEach(function (el) {
        el.textContent = duration((Date.now() - new Date(el.dataset.since)) / 1000);
      });
    }, 15000);
  });

  return {api: api, toast: toast, onAlert: onAlert, localize: localize, duration: duration};
})();
