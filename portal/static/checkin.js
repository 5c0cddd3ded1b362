// Check-in and questionnaire pages: crisis help shown the moment a risk answer is chosen
// for browsers without CSS :has() (which does it everywhere else, with no script at all),
// and a nudge to the service worker to send anything kept from an earlier time with no
// signal.
(function () {
  "use strict";
  document.querySelectorAll("form").forEach(function (form) {
    var panel = form.querySelector(".crisis-panel");
    if (!panel) { return; }
    function showWhenRisk() {
      panel.classList.toggle("is-shown", form.querySelector(".risk-answer:checked") !== null);
    }
    showWhenRisk();  // today's check-in, opened again to change it
    form.addEventListener("change", showWhenRisk);
  });
  if (navigator.serviceWorker && navigator.serviceWorker.controller) {
    navigator.serviceWorker.controller.postMessage("flush-queue");
  }
})();
