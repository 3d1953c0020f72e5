/* The case queue and the case page: report for duty, arrive, record the rescue, resolve
   with a cause, add a note, conclude, cancel (through the JSON API); deadlines count down. */
"use strict";
(function () {
  var NUMBERS = ["trapped_count", "injured_count"];

  /* The page's main part again from the server, keeping the filters (no full reload). */
  async function refreshMain() {
    var r = await fetch(location.pathname + location.search, {credentials: "same-origin"});
    if (!r.ok) return;
    var doc = new DOMParser().parseFromString(await r.text(), "text/html");
    var fresh = doc.querySelector("main");
    if (fresh) {
      document.querySelector("main").replaceWith(fresh);
      Whistle.localize(fresh);
      deadlines(fresh);
    }
  }

  async function act(box, action, body) {
    var error = box.querySelector(".action-error");
    if (error) error.textContent = "";
    box.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    try {
      var c = await Whistle.api("POST", "/cases/" + box.dataset.case + "/" + action, body);
      Whistle.toast(Whistle.t("toast.case", {id: c.id}));
      await refreshMain();
    } catch (err) {
      if (error) error.textContent = err.message;
      box.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
    }
  }

  document.addEventListener("click", function (ev) {
    var button = ev.target.closest(".case-actions button[data-action]");
    if (!button) return;
    act(button.closest(".case-actions"), button.dataset.action, undefined);
  });

  document.addEventListener("submit", function (ev) {
    var form = ev.target.closest(".case-actions form[data-action]");
    if (!form) return;
    ev.preventDefault();
    var body = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.value.trim() === "") return;
      body[el.name] = NUMBERS.indexOf(el.name) >= 0 ? Number(el.value) : el.value.trim();
    });
    act(form.closest(".case-actions"), form.dataset.action, body);
  });

  /* "12 min left" / "passed 3 min ago", kept current while the page is open. */
  function deadlines(root) {
    (root || document).querySelectorAll(".deadline[data-at]:not([data-met]) .left").forEach(function (el) {
      var left = (new Date(el.parentNode.dataset.at) - Date.now()) / 1000;
      if (isNaN(left)) return;
      el.textContent = left >= 0 ? Whistle.t("deadline.left", {d: Whistle.duration(left)})
                                 : Whistle.t("deadline.passed", {d: Whistle.duration(-left)});
      el.classList.toggle("passed", left < 0);
    });
  }
  deadlines(document);
  setInterval(function () { deadlines(document); }, 15000);
})();
