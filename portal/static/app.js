// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  if ("serviceWorker" in navigator) {
    window.addEventListener("load", function () {
      navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () {});
    });
  }
  // No patient data in browser storage: htmx's history cache is off (historyCacheSize 0
  // in base.html), but htmx still writes the current path to sessionStorage. It only
  // reads it back to name a snapshot it will not keep, so take it out each time.
  var HISTORY_PATH_KEY = "htmx-current-path-for-history";
  function forgetHistoryPath() {
    try { window.sessionStorage.removeItem(HISTORY_PATH_KEY); } catch (e) { /* storage off */ }
  }
  forgetHistoryPath();
  ["htmx:pushedIntoHistory", "htmx:replacedInHistory", "htmx:historyRestore"].forEach(function (name) {
    document.addEventListener(name, forgetHistoryPath);
  });
  // Move focus to the new main content after an htmx-boosted navigation, for screen readers.
  document.addEventListener("htmx:afterSettle", function (event) {
    var main = document.getElementById("main");
    if (main && event.detail && event.detail.boosted) { main.focus({ preventScroll: false }); }
  });
})();
