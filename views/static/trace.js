// The trace waterfall across live refreshes: the tree (#trace-tree) is re-rendered by the server
// and swapped by htmx, so what the reader did to it — groups collapsed, the span selected — is
// remembered here and put back after each swap; the selected span's detail is fetched again, since
// its duration, logs and children may have changed with the run.
(function () {
  var closed = new Set();
  var selected = null;
  function rowOf(id) {
    return document.querySelector('.waterfall [data-span="' + window.CSS.escape(id) + '"]');
  }
  function mark() {
    document.querySelectorAll(".waterfall [data-span]").forEach(function (row) {
      var on = row.getAttribute("data-span") === selected;
      row.classList.toggle("selected", on);
      if (on) row.setAttribute("aria-current", "true"); else row.removeAttribute("aria-current");
    });
  }
  document.addEventListener("click", function (event) {
    var row = event.target.closest && event.target.closest(".waterfall [data-span]");
    if (!row) return;
    selected = row.getAttribute("data-span");
    mark();
  });
  // toggle does not bubble: listen while it is captured.
  document.addEventListener("toggle", function (event) {
    var details = event.target;
    if (!details.matches || !details.matches(".waterfall details.span-group")) return;
    var summary = details.querySelector(":scope > summary[data-span]");
    if (!summary) return;
    if (details.open) closed.delete(summary.getAttribute("data-span")); else closed.add(summary.getAttribute("data-span"));
  }, true);
  document.addEventListener("htmx:afterSwap", function (event) {
    // Only the tree's swaps: the detail's own swap (below) must not fetch the detail again.
    var target = event.detail && (event.detail.target || event.detail.elt);
    if (!target || target.id !== "trace-tree") return;
    closed.forEach(function (id) {
      var summary = rowOf(id);
      if (summary && summary.parentElement && summary.parentElement.open) summary.parentElement.open = false;
    });
    mark();
    var row = selected && rowOf(selected);
    // From the row itself, so its hx-sync applies: detail requests replace one another and the
    // last one asked for is the one shown, whichever answer comes back first.
    if (row && window.htmx) window.htmx.ajax("GET", row.getAttribute("hx-get"), { source: row, target: "#span-detail", swap: "innerHTML" });
  });
})();
