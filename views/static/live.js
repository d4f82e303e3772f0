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
