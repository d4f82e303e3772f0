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
    if (copy) copyText(copy);
  });
  // Copies a button's data-copy text and says so on the button for a moment. Without the clipboard
  // API (a page served over plain http from another host) a hidden textarea does it.
  function copyText(button) {
    var text = button.getAttribute("data-copy");
    var original = button.getAttribute("data-copy-label") || "Copy";
    function done() {
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = original; }, 1200);
    }
    if (window.navigator.clipboard && window.isSecureContext) {
      window.navigator.clipboard.writeText(text).then(done, function () {});
      return;
    }
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    try { if (document.execCommand("copy")) done(); } catch { /* nothing to copy with */ }
    area.remove();
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-theme-toggle]").forEach(label);
  });
})();

// Live swaps keep what the reader was doing: elements marked data-keep-state keep their checked
// boxes (the runs selected for a bulk action), text being typed, focus, the sideways scroll of their
// tables, which folds are open (when the same folds come back) and the page's scroll position.
(function () {
  var kept = {};
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (!target || !target.id || !target.hasAttribute("data-keep-state")) return;
    kept[target.id] = {
      checked: Array.prototype.map.call(target.querySelectorAll("input[type=checkbox][value]:checked"), function (box) { return box.value; }),
      scrollLeft: Array.prototype.map.call(target.querySelectorAll("table"), function (box) { return box.scrollLeft; }),
      scrollY: window.scrollY,
      // Text being typed (a token's output, a queue's limit): kept unless it is what the page had.
      typed: Array.prototype.filter.call(target.querySelectorAll("textarea[id], input[id]:not([type=hidden]):not([type=checkbox])"), function (field) {
        return field.value !== field.defaultValue;
      }).map(function (field) { return [field.id, field.value]; }),
      focused: document.activeElement && target.contains(document.activeElement) ? document.activeElement.id : null,
      // Folds opened or closed (the run page's JSON viewer and stack), by position.
      open: Array.prototype.map.call(target.querySelectorAll("details"), function (fold) { return fold.open; }),
    };
  });
  document.addEventListener("htmx:afterSettle", function () {
    Object.keys(kept).forEach(function (id) {
      var element = document.getElementById(id);
      var state = kept[id];
      delete kept[id];
      if (!element) return;
      element.querySelectorAll("input[type=checkbox][value]").forEach(function (box) { box.checked = state.checked.indexOf(box.value) !== -1; });
      element.querySelectorAll("table").forEach(function (box, index) { box.scrollLeft = state.scrollLeft[index] || 0; });
      window.scrollTo(window.scrollX, state.scrollY);
      state.typed.forEach(function (entry) {
        var field = document.getElementById(entry[0]);
        if (field && element.contains(field)) field.value = entry[1];
      });
      var folds = element.querySelectorAll("details");
      if (folds.length === state.open.length) folds.forEach(function (fold, index) { fold.open = state.open[index]; });
      var focus = state.focused && document.getElementById(state.focused);
      if (focus) focus.focus();
      updateBulk();
    });
  });

  // Bulk selection: "select all" on the page, a count, and buttons enabled only with a selection.
  function updateBulk() {
    var form = document.getElementById("bulk");
    if (!form) return;
    var boxes = document.querySelectorAll('input[type=checkbox][form="bulk"]');
    var count = Array.prototype.filter.call(boxes, function (box) { return box.checked; }).length;
    var label = form.querySelector("[data-bulk-count]");
    if (label) label.textContent = count === 0 ? "No runs selected" : count === 1 ? "1 run selected" : count + " runs selected";
    form.querySelectorAll("[data-bulk-selected]").forEach(function (button) { button.disabled = count === 0; });
    var all = document.querySelector("[data-select-all]");
    if (all) all.checked = boxes.length > 0 && count === boxes.length;
  }
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches && target.matches("[data-select-all]")) {
      document.querySelectorAll('input[type=checkbox][form="bulk"]').forEach(function (box) { box.checked = target.checked; });
    }
    if (target.matches && (target.matches("[data-select-all]") || target.matches('input[form="bulk"]'))) updateBulk();
  });
  document.addEventListener("DOMContentLoaded", updateBulk);
  document.addEventListener("htmx:afterSettle", updateBulk);

  // Buttons that ask first (data-confirm): destructive actions on many runs.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-confirm]");
    if (button && !window.confirm(button.getAttribute("data-confirm"))) event.preventDefault();
  }, true);
})();

// Keyboard shortcuts (the list is in the layout's #shortcuts dialog; `?` opens it). Keys are ignored
// while typing in a field or with a modifier held, so they never steal text.
(function () {
  var pendingG = false;
  var goTo = { r: "runs", t: "tasks", s: "schedules", w: "tokens", q: "queues" };
  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }
  function navLink(section) {
    return Array.prototype.find.call(document.querySelectorAll('nav[aria-label="Sections"] a'), function (link) {
      return new URL(link.href).pathname.endsWith("/" + section);
    });
  }
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("tr[data-run]")); }
  function move(step) {
    var list = rows();
    if (!list.length) return;
    var index = list.findIndex(function (row) { return row.classList.contains("is-current"); });
    var next = list[Math.max(0, Math.min(list.length - 1, index + step))];
    list.forEach(function (row) { row.classList.remove("is-current"); row.removeAttribute("aria-current"); });
    next.classList.add("is-current");
    next.setAttribute("aria-current", "true");
    var link = next.querySelector("a");
    if (link) link.focus();
  }
  function current() { return document.querySelector("tr[data-run].is-current") || (document.activeElement && document.activeElement.closest && document.activeElement.closest("tr[data-run]")); }
  function openHelp() {
    var dialog = document.getElementById("shortcuts");
    if (dialog && !dialog.open) dialog.showModal();
  }
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-shortcuts-open]")) openHelp();
  });
  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (document.querySelector("dialog[open]")) return;
    var key = event.key;
    if (pendingG) {
      pendingG = false;
      var link = goTo[key] && navLink(goTo[key]);
      if (link) { event.preventDefault(); window.location.href = link.href; }
      return;
    }
    if (key === "?") { event.preventDefault(); openHelp(); return; }
    if (key === "g") { pendingG = true; setTimeout(function () { pendingG = false; }, 1500); return; }
    if (key === "/") {
      event.preventDefault();
      var search = document.querySelector("[data-shortcut-search]");
      if (search) search.focus();
      else { var runs = navLink("runs"); if (runs) window.location.href = runs.href + "#filter-q"; }
      return;
    }
    if (key === "j" || key === "k") { if (rows().length) { event.preventDefault(); move(key === "j" ? 1 : -1); } return; }
    if (key === "o" || key === "x") {
      var row = current();
      if (!row) return;
      event.preventDefault();
      if (key === "o") { var open = row.querySelector("a"); if (open) window.location.href = open.href; }
      else { var box = row.querySelector('input[type=checkbox][form="bulk"]'); if (box) { box.checked = !box.checked; box.dispatchEvent(new window.Event("change", { bubbles: true })); } }
      return;
    }
    var target = document.querySelector('[data-shortcut="' + key + '"]');
    if (!target) return;
    event.preventDefault();
    if (target.tagName === "BUTTON" && !window.confirm(target.textContent.trim() + "?")) return;
    target.click();
  });
  // Arriving from `/` on another page: focus the runs search.
  document.addEventListener("DOMContentLoaded", function () {
    if (window.location.hash === "#filter-q") { var field = document.getElementById("filter-q"); if (field) field.focus(); }
  });
})();
