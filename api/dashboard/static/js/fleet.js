/* The fleet: tiles follow the alert stream (each change refetches its elevator). */
"use strict";
(function () {
  var ICONS = {normal: "✓", warning: "!", fault: "✖", offline: "⌁", out_of_service: "⊘",
               unknown: "?"};
  var RANK = {critical: 0, major: 1, minor: 2, warning: 3};
  var fleet = document.getElementById("fleet");
  var wanted = fleet ? fleet.dataset.filterStatus : "";
  // A large fleet's page shows counts from the server and only some tiles: the counts are
  // not recounted from the tiles, and the whole fleet is not fetched every minute.
  var summary = Boolean(fleet && fleet.hasAttribute("data-summary"));

  function setStatus(tile, status) {
    if (tile.dataset.status === status) return;
    tile.classList.remove("status-" + tile.dataset.status);
    tile.classList.add("status-" + status);
    tile.dataset.status = status;
    var badge = tile.querySelector(".status-badge");
    var label = [ICONS[status] || "?", Whistle.word("status", status)];
    badge.className = "status-badge status-" + status;
    badge.dataset.status = status;
    badge.querySelector(".icon").textContent = label[0];
    badge.querySelector(".status-text").textContent = label[1];
    tile.hidden = Boolean(wanted) && status !== wanted;
  }

  function setAlertLine(tile, alerts) {
    var line = tile.querySelector("[data-alert-line]");
    if (!line || !alerts) return;
    alerts = alerts.slice().sort(function (a, b) {
      return (RANK[a.severity] - RANK[b.severity]) || (a.opened_at < b.opened_at ? -1 : 1);
    });
    if (!alerts.length) { line.textContent = ""; return; }
    var a = alerts[0];
    line.textContent = Whistle.word("kind", a.kind) + " · " + Whistle.word("severity", a.severity) +
      (a.state === "acknowledged" ? " · " + Whistle.t("tile.acknowledged") : "") +
      (alerts.length > 1 ? " (+" + (alerts.length - 1) + ")" : "");
  }

  function recount() {
    if (summary) return;
    var counts = {};
    document.querySelectorAll(".tile[data-status]").forEach(function (t) {
      counts[t.dataset.status] = (counts[t.dataset.status] || 0) + 1;
    });
    document.querySelectorAll("[data-count]").forEach(function (el) {
      el.textContent = counts[el.dataset.count] || 0;
    });
  }

  async function refreshTile(id) {
    var tile = document.getElementById("tile-" + id);
    if (!tile) return;
    try {
      var e = await Whistle.api("GET", "/elevators/" + encodeURIComponent(id));
      setStatus(tile, e.status);
      setAlertLine(tile, e.open_alerts);
    } catch (err) {
      if (err.status === 404) { tile.remove(); }  // handed over: no longer ours to see
    }
    recount();
  }

  async function refreshAll() {
    var offset = 0, page;
    do {
      page = await Whistle.api("GET", "/elevators?limit=1000&offset=" + offset);
      page.forEach(function (e) {
        var tile = document.getElementById("tile-" + e.id);
        if (tile) setStatus(tile, e.status);
      });
      offset += page.length;
    } while (page.length === 1000);
    recount();
  }

  Whistle.onAlert(function (msg) {
    if (msg === null) { refreshAll(); return; }
    refreshTile(msg.alert.elevator_id);
  });
  // Status also changes without alerts (first data, silence): look again every minute.
  if (!summary) setInterval(function () { refreshAll().catch(function () {}); }, 60000);
})();
