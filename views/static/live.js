// Live updates: each element with data-live subscribes to the server's event stream (fed by Postgres
// LISTEN/NOTIFY) and, when something changes, asks htmx to re-fetch itself.
(function () {
  function connect() {
    document.querySelectorAll("[data-live]").forEach(function (element) {
      if (element.__ratchetLive) return;
      var source = new EventSource(element.getAttribute("data-live"));
      element.__ratchetLive = source;
      source.addEventListener("changed", function () {
        var current = document.getElementById(element.id);
        if (current && window.htmx) window.htmx.trigger(current, "live");
      });
    });
  }
  document.addEventListener("DOMContentLoaded", connect);
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail && event.detail.elt;
    if (target && target.hasAttribute && target.hasAttribute("data-live") && !target.__ratchetLive) {
      document.querySelectorAll("[data-live]").forEach(function (old) { if (old !== target && old.__ratchetLive && !document.body.contains(old)) old.__ratchetLive.close(); });
      connect();
    }
  });
})();
