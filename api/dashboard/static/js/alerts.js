/* The alert queue and the alert page: report for duty, arrive, resolve; follow the stream. */
"use strict";
(function () {
  var queue = document.querySelector("#queue tbody");
  var state = document.getElementById("alert-state");

  function rowFrom(html) {
    var t = document.createElement("template");
    t.innerHTML = "<table><tbody>" + html + "</tbody></table>";
    return t.content.querySelector("tr");
  }

  function placeRow(row) {
    var rank = Number(row.dataset.rank), opened = row.dataset.opened;
    var rows = queue.querySelectorAll("tr[data-alert]");
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i], rr = Number(r.dataset.rank);
      if (rr > rank || (rr === rank && r.dataset.opened > opened)) { queue.insertBefore(row, r); return; }
    }
    queue.appendChild(row);
  }

  function updateEmpty() {
    var empty = document.getElementById("queue-empty");
    if (empty) empty.hidden = queue.querySelector("tr[data-alert]") !== null;
  }

  async function refreshRow(id) {
    var r = await fetch("/alerts/" + id + "/row", {credentials: "same-origin"});
    // Looked up after the fetch: two refreshes of one row may overlap (the reply to a
    // button and the live event of the same change); the later one replaces the earlier.
    var old = document.getElementById("alert-" + id);
    if (r.status === 204 || r.status === 404) {
      if (old) old.remove();
    } else if (r.ok) {
      var row = rowFrom(await r.text());
      if (!row) return;
      old = document.getElementById("alert-" + id);
      var typed = old && old.querySelector("input[name=note]");
      var input = row.querySelector("input[name=note]");
      if (typed && input) input.value = typed.value;
      if (old) old.remove();
      placeRow(row);
      Whistle.localize(row);
    }
    updateEmpty();
  }

  /* The alert page re-renders its main part from the server (no full reload). */
  async function refreshMain() {
    var r = await fetch(location.pathname, {credentials: "same-origin"});
    if (!r.ok) return;
    var doc = new DOMParser().parseFromString(await r.text(), "text/html");
    var fresh = doc.querySelector("main");
    if (fresh) {
      /* A note typed while the page was refreshing must survive the refresh. */
      var typed = document.querySelector("main input[name=note]");
      var focused = typed && document.activeElement === typed;
      document.querySelector("main").replaceWith(fresh);
      var input = fresh.querySelector("input[name=note]");
      if (typed && input && typed.value) {
        input.value = typed.value;
        if (focused) input.focus();
      }
      Whistle.localize(fresh);
      state = document.getElementById("alert-state");
    }
  }

  async function act(id, action, body, box) {
    var error = box && box.querySelector(".action-error");
    if (error) error.textContent = "";
    box && box.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    try {
      var a = await Whistle.api("POST", "/alerts/" + id + "/" + action, body);
      Whistle.toast(Whistle.t("toast.done", {action: Whistle.t("toast." + action),
                                             kind: Whistle.word("kind", a.kind),
                                             elevator: a.elevator_id}));
      if (queue) await refreshRow(id); else await refreshMain();
    } catch (err) {
      if (error) error.textContent = err.message;
      box && box.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
    }
  }

  document.addEventListener("click", function (ev) {
    var button = ev.target.closest("button[data-action]");
    if (!button) return;
    var box = button.closest(".actions[data-alert]");
    act(box.dataset.alert, button.dataset.action, undefined, box);
  });

  document.addEventListener("submit", function (ev) {
    var form = ev.target.closest("form[data-action=resolve]");
    if (!form) return;
    ev.preventDefault();
    var note = form.querySelector("input[name=note]").value.trim();
    if (!note) return;
    var box = form.closest(".actions[data-alert]");
    act(box.dataset.alert, "resolve", {note: note}, box);
  });

  Whistle.onAlert(function (msg) {
    if (queue) {
      if (msg === null) { location.reload(); return; }
      refreshRow(msg.alert.id);
    } else if (state && (msg === null || String(msg.alert.id) === state.dataset.alert)) {
      var typing = document.activeElement && document.activeElement.tagName === "INPUT" &&
        document.activeElement.value;
      if (!typing) refreshMain();
    }
  });
})();
