/* The roster page's editing (managers): each change reads the roster through the JSON
   API, adds (data-roster-add) or removes (data-roster-remove + data-index) one shift or
   override, and puts the whole roster back; then the page is reloaded. All words come
   from the page. */
"use strict";
(function () {
  var head = document.getElementById("roster-head");
  if (!head) return;
  var path = "/orgs/" + head.dataset.org + "/roster";

  function bodyOf(form) {
    var body = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name) return;
      var value = el.value.trim();
      if (value === "") return;
      if (el.dataset.type === "int") body[el.name] = Number(value);
      else if (el.dataset.type === "datetime") body[el.name] = new Date(value).toISOString();
      else body[el.name] = value;
    });
    return body;
  }

  function plain(roster) {
    return {
      shifts: roster.shifts.map(function (s) {
        return {person_id: s.person_id, weekday: s.weekday, start: s.start, end: s.end,
                time_zone: s.time_zone};
      }),
      overrides: roster.overrides.map(function (o) {
        var out = {person_id: o.person_id, start: o.start, end: o.end, duty: o.duty};
        if (o.note) out.note = o.note;
        return out;
      })
    };
  }

  async function change(el, box, edit) {
    var error = box.querySelector(".action-error");
    if (error) error.textContent = "";
    try {
      var roster = plain(await Whistle.api("GET", path));
      edit(roster);
      await Whistle.api("PUT", path, roster);
      if (el.dataset.done) Whistle.toast(el.dataset.done);
      location.reload();
    } catch (err) {
      if (error) error.textContent = err.message;
    }
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target.closest("form[data-roster-add]");
    if (!form) return;
    ev.preventDefault();
    change(form, form, function (r) { r[form.dataset.rosterAdd].push(bodyOf(form)); });
  });

  document.addEventListener("click", function (ev) {
    var button = ev.target.closest("button[data-roster-remove]");
    if (!button) return;
    change(button, button.closest(".api-action"), function (r) {
      r[button.dataset.rosterRemove].splice(Number(button.dataset.index), 1);
    });
  });
})();
