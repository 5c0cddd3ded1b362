// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  // The service worker keeps the crisis and offline pages for when there is no signal;
  // it fetches them without cookies, so it is told the language this page is in and
  // fetches them again in it when the patient has switched (sw.js).
  function tellLanguage() {
    var language = document.documentElement.lang;
    if (!language || !("serviceWorker" in navigator)) { return; }
    navigator.serviceWorker.ready.then(function (registration) {
      if (registration.active) {
        registration.active.postMessage({ type: "page-language", language: language });
      }
    }).catch(function () {});
  }
  if ("serviceWorker" in navigator) {
    window.addEventListener("load", function () {
      navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () {});
      tellLanguage();
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
  // A boosted navigation swaps only the body: take the new page's <html lang> too (the
  // language switch is such a navigation), so screen readers read it in its language.
  var HTML_LANG = /<html[^>]*\slang="([A-Za-z-]{2,12})"/;
  document.addEventListener("htmx:afterSettle", function (event) {
    var main = document.getElementById("main");
    if (!event.detail || !event.detail.boosted) { return; }
    var xhr = event.detail.xhr, found = xhr && HTML_LANG.exec(xhr.responseText || "");
    if (found && found[1] !== document.documentElement.lang) {
      document.documentElement.lang = found[1];
      tellLanguage();
    }
    if (main) { main.focus({ preventScroll: false }); }
  });
})();
