// Web Push, progressive enhancement only: turn notifications on from the notification
// settings page, and stop them on this device at sign-out (a shared phone should not
// keep getting someone else's notifications). Nothing is kept in browser storage.
(function () {
  "use strict";

  function keyBytes(base64url) {
    var text = base64url.replace(/-/g, "+").replace(/_/g, "/");
    var raw = window.atob(text + "===".slice((text.length + 3) % 4));
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i += 1) { bytes[i] = raw.charCodeAt(i); }
    return bytes;
  }

  function isAppleMobile() {
    var ua = navigator.userAgent;
    return /iPhone|iPad|iPod/.test(ua) || (/Macintosh/.test(ua) && navigator.maxTouchPoints > 1);
  }

  function isHomeScreenApp() {
    return window.navigator.standalone === true ||
      window.matchMedia("(display-mode: standalone)").matches;
  }

  function canPush() {
    return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
  }

  function currentSubscription() {
    return navigator.serviceWorker.getRegistration("/").then(function (registration) {
      return registration ? registration.pushManager.getSubscription() : null;
    });
  }

  function hexDigest(text) {
    if (!window.crypto || !window.crypto.subtle) { return Promise.resolve(""); }
    return window.crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)).then(function (hash) {
      return Array.prototype.map.call(new Uint8Array(hash), function (b) {
        return ("0" + b.toString(16)).slice(-2);
      }).join("");
    });
  }

  function markThisDevice(root) {
    return currentSubscription().then(function (subscription) {
      if (!subscription) { return null; }
      return hexDigest(subscription.endpoint).then(function (digest) {
        var row = digest && root.ownerDocument.querySelector('[data-endpoint-hash="' + digest + '"]');
        if (row) { row.querySelector(".this-device").hidden = false; row.dataset.thisDevice = "1"; }
        return row;
      });
    }).catch(function () { return null; });
  }

  function setUp(root) {
    if (root.dataset.pushReady) { return; }
    root.dataset.pushReady = "1";
    var button = root.querySelector("[data-push-subscribe]");
    var status = root.querySelector("[data-push-status]");
    var token = root.querySelector('input[name="csrf_token"]');
    if (!button || !root.dataset.vapidKey) { return; }
    if (isAppleMobile() && !isHomeScreenApp()) {
      root.querySelector("[data-push-ios]").hidden = false;
      return;
    }
    if (!canPush()) {
      root.querySelector("[data-push-unsupported]").hidden = false;
      return;
    }
    button.hidden = false;
    markThisDevice(root);

    function say(text) { status.textContent = text; }
    // The words come from the page, in its language (data-say-* on the push root, from
    // macros.html's push_texts); English when a page does not give them.
    function words(name, english) { return root.getAttribute("data-say-" + name) || english; }

    button.addEventListener("click", function () {
      button.disabled = true;
      say(words("asking", "Asking your browser…"));
      Notification.requestPermission().then(function (permission) {
        if (permission !== "granted") { throw new Error("blocked"); }
        return navigator.serviceWorker.ready;
      }).then(function (registration) {
        return registration.pushManager.subscribe({
          userVisibleOnly: true,
          applicationServerKey: keyBytes(root.dataset.vapidKey),
        });
      }).then(function (subscription) {
        return fetch(root.dataset.pushUrl, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRFToken": token ? token.value : "" },
          body: JSON.stringify(subscription),
        });
      }).then(function (response) {
        // Only 201 means saved: a signed-out session answers with the sign-in page.
        if (response.status !== 201) { throw new Error("refused"); }
        say(words("on", "Notifications are on for this device."));
        window.location.reload();
      }).catch(function (error) {
        button.disabled = false;
        say(error && error.message === "blocked"
          ? words("blocked", "Your browser is blocking notifications from this app. Allow them in the browser's site settings, then try again.")
          : words("failed", "That did not work. Please try again."));
      });
    });

    // Removing this very device: also end the subscription in the browser.
    root.ownerDocument.querySelectorAll("form[data-remove-device]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        var row = form.closest("[data-endpoint-hash]");
        if (!row || !row.dataset.thisDevice || form.dataset.unsubscribed) { return; }
        event.preventDefault();
        form.dataset.unsubscribed = "1";
        currentSubscription().then(function (subscription) {
          return subscription ? subscription.unsubscribe() : null;
        }).catch(function () { return null; }).then(function () { form.requestSubmit(); });
      });
    });
  }

  function stopAfterSignOut() {
    if (location.pathname !== "/sign-in" || !/[?&]bye=1/.test(location.search) || !canPush()) { return; }
    currentSubscription().then(function (subscription) {
      return subscription ? subscription.unsubscribe() : null;
    }).catch(function () { return null; });
  }

  function start() {
    document.querySelectorAll("[data-push-root]").forEach(setUp);
    stopAfterSignOut();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
  document.addEventListener("htmx:afterSettle", start);
})();
