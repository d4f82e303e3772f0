// Loaded without defer in <head>, before the stylesheet applies: the theme pinned by the toggle is set
// on <html> before first paint, so a dark page never flashes light.
(function () {
  try {
    var theme = window.localStorage.getItem("ratchet-theme");
    if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
  } catch {
    // Storage refused (privacy mode): follow the system theme.
  }
})();
