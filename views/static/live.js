// Live updates: each element with data-live and an id subscribes to the server's event stream (fed by
// Postgres LISTEN/NOTIFY) and asks htmx to re-fetch itself when something changed. One stream per
// element id, kept across swaps; when the stream (re)opens the element refreshes once, to catch up
// on anything that changed while it was not listening.
(function () {
  var sources = {};
  function refresh(id) {
    var current = document.getElementById(id);
    if (current && window.htmx) window.htmx.trigger(current, "live");
  }
  function connect() {
    document.querySelectorAll("[data-live][id]").forEach(function (element) {
      var id = element.id;
      var url = element.getAttribute("data-live");
      if (sources[id] && sources[id].url.endsWith(url)) return;
      if (sources[id]) sources[id].close();
      var source = new EventSource(url);
      sources[id] = source;
      source.addEventListener("changed", function () { refresh(id); });
      source.addEventListener("open", function () { refresh(id); });
    });
  }
  document.addEventListener("DOMContentLoaded", connect);
  document.addEventListener("htmx:afterSettle", connect);
})();

// Shared page behaviour: the theme toggle (light → dark → system, kept in localStorage and applied
// before first paint by the layout's head script) and copy buttons on ids ([data-copy]).
(function () {
  var order = ["light", "dark", "system"];
  function current() { return document.documentElement.dataset.theme || "system"; }
  function label(button) { button.textContent = "Theme: " + current(); }
  document.addEventListener("click", function (event) {
    var toggle = event.target.closest && event.target.closest("[data-theme-toggle]");
    if (toggle) {
      var next = order[(order.indexOf(current()) + 1) % order.length];
      if (next === "system") { delete document.documentElement.dataset.theme; } else { document.documentElement.dataset.theme = next; }
      try { if (next === "system") window.localStorage.removeItem("ratchet-theme"); else window.localStorage.setItem("ratchet-theme", next); } catch { /* storage refused: the choice lasts this page */ }
      label(toggle);
      return;
    }
    var copy = event.target.closest && event.target.closest("[data-copy]");
    if (copy && window.navigator.clipboard) {
      window.navigator.clipboard.writeText(copy.getAttribute("data-copy")).then(function () {
        copy.textContent = "Copied";
        setTimeout(function () { copy.textContent = "Copy"; }, 1200);
      }, function () {});
    }
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-theme-toggle]").forEach(label);
  });
})();
