/* Whistle dashboard: what every page shares. No framework, no build step. */
"use strict";
window.Whistle = (function () {
  /* Every word the scripts show comes from the page (#whistle-i18n), translated by the
     server in the page's language; the scripts have no strings of their own. */
  var I18N = (function () {
    var el = document.getElementById("whistle-i18n");
    try { return JSON.parse(el ? el.textContent : "{}"); } catch (e) { return {}; }
  })();
  var TEXT = I18N.text || {}, UNITS = I18N.units || {}, VOCAB = I18N.vocabulary || {};

  /* A text of the page's language, with {name} replaced from vars. */
  function t(key, vars) {
    var text = TEXT[key] === undefined ? key : TEXT[key];
    return text.replace(/\{(\w+)\}/g, function (m, name) {
      return vars && vars[name] !== undefined ? String(vars[name]) : m;
    });
  }

  /* A stored value in the page's words ("trapped_passenger" as 困人). */
  function word(vocabulary, value) {
    var words = VOCAB[vocabulary] || {};
    return words[value] || String(value).replace(/_/g, " ");
  }

  function duration(s) {
    var u = function (k) { return " " + (UNITS[k] || k); };
    s = Math.max(0, Math.round(s));
    if (s < 60) return s + u("s");
    if (s < 3600) return Math.floor(s / 60) + u("min") + (s % 60 ? " " + (s % 60) + u("s") : "");
    if (s < 86400) return Math.floor(s / 3600) + u("h") + " " + Math.floor(s % 3600 / 60) + u("min");
    return Math.floor(s / 86400) + u("d") + " " + Math.floor(s % 86400 / 3600) + u("h");
  }

  /* Times are rendered by the server in WHISTLE_TIMEZONE (with the zone); only the ages
     ("3 min") change while the page is open. */
  function localize(root) {
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
      var err = new Error((data && data.detail) || t("error.http", {status: r.status}));
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
      show("live", t("live.live"));
      if (lost) { lost = false; callback(null); }
    };
    source.onerror = function () { lost = true; show("lost", t("live.lost")); };
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

  return {api: api, toast: toast, onAlert: onAlert, localize: localize, duration: duration,
          t: t, word: word, lang: I18N.lang || "en", zone: I18N.zone || "UTC"};
})();
