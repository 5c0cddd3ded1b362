// Check-in and questionnaire pages: an idempotency key made on the phone, and crisis help
// shown the moment a risk answer is chosen for browsers without CSS :has() (which does it
// everywhere else, with no script at all).
(function () {
  "use strict";
  function phoneKey() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    return String(Date.now()) + "-" + Math.random().toString(16).slice(2);
  }
  document.querySelectorAll("input[data-phone-key]").forEach(function (input) {
    input.value = phoneKey();
  });
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
