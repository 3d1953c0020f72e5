/* Buttons and forms that act through the JSON API with the sign-in cookie: the
   organizations pages (people, tokens, end of service) and the elevator page (handover,
   maintenance change). Each names its request in data attributes (data-api-method,
   data-api-path); data-confirm asks first, data-done is the toast, data-show="token"
   shows the new token once; the page's main part is then fetched again (or, with
   data-reload, the page is reloaded). All words come from the page. */
"use strict";
(function () {
  async function refreshMain() {
    var r = await fetch(location.pathname + location.search, {credentials: "same-origin"});
    if (!r.ok) return;
    var doc = new DOMParser().parseFromString(await r.text(), "text/html");
    var fresh = doc.querySelector("main");
    if (fresh) {
      document.querySelector("main").replaceWith(fresh);
      Whistle.localize(fresh);
    }
  }

  /* The body of a form: empty fields left out; data-type="int" a number, data-type=
     "datetime" the local time as RFC 3339; a checkbox true or false (data-local ones
     are for the page only). */
  function bodyOf(form) {
    var body = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.dataset.local) return;
      if (el.type === "checkbox") { body[el.name] = el.checked; return; }
      var value = el.value.trim();
      if (value === "") return;
      if (el.dataset.type === "int") body[el.name] = Number(value);
      else if (el.dataset.type === "datetime") body[el.name] = new Date(value).toISOString();
      else body[el.name] = value;
    });
    return body;
  }

  async function act(el, box, body) {
    if (el.dataset.confirm && !window.confirm(el.dataset.confirm)) return;
    var error = box.querySelector(".action-error");
    if (error) error.textContent = "";
    box.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    try {
      var out = await Whistle.api(el.dataset.apiMethod, el.dataset.apiPath, body);
      if (el.dataset.done) Whistle.toast(el.dataset.done);
      if (el.dataset.reload) { location.reload(); return; }
      await refreshMain();
      if (el.dataset.show && out && out[el.dataset.show]) {
        var shown = document.getElementById("new-" + el.dataset.show);
        if (shown) {
          shown.querySelector("code").textContent = out[el.dataset.show];
          shown.hidden = false;
        }
      }
    } catch (err) {
      if (error) error.textContent = err.message;
      box.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
    }
  }

  document.addEventListener("click", function (ev) {
    var button = ev.target.closest("button[data-api-path]");
    if (!button) return;
    act(button, button.closest(".api-action") || button.parentNode, undefined);
  });

  document.addEventListener("submit", function (ev) {
    var form = ev.target.closest("form[data-api-path]");
    if (!form) return;
    ev.preventDefault();
    act(form, form, bodyOf(form));
  });
})();
