// Passkeys: buttons marked data-passkey="register|enroll|sign-in|second-factor" run the
// WebAuthn ceremony with the server's JSON routes. Without WebAuthn (or without
// JavaScript) the buttons stay hidden and the password and code forms work alone.
(function () {
  "use strict";

  function toBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    var binary = atob(base64 + "===".slice((base64.length + 3) % 4));
    return Uint8Array.from(binary, function (c) { return c.charCodeAt(0); });
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer), binary = "";
    for (var i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function described(list) {
    return (list || []).map(function (c) {
      return { type: c.type, id: toBytes(c.id), transports: c.transports };
    });
  }

  function creationOptions(o) {
    o.challenge = toBytes(o.challenge);
    o.user.id = toBytes(o.user.id);
    o.excludeCredentials = described(o.excludeCredentials);
    return o;
  }

  function requestOptions(o) {
    o.challenge = toBytes(o.challenge);
    o.allowCredentials = described(o.allowCredentials);
    return o;
  }

  function asJSON(cred) {
    var r = cred.response, out = {
      id: cred.id, rawId: toText(cred.rawId), type: cred.type,
      clientExtensionResults: cred.getClientExtensionResults(), response: {
        clientDataJSON: toText(r.clientDataJSON)
      }
    };
    if (r.attestationObject) {
      out.response.attestationObject = toText(r.attestationObject);
      out.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      out.response.authenticatorData = toText(r.authenticatorData);
      out.response.signature = toText(r.signature);
      if (r.userHandle) out.response.userHandle = toText(r.userHandle);
    }
    return JSON.stringify(out);
  }

  // The words come from the page, in its language (data-say-* on the button, from
  // macros.html's passkey_texts); English when a page does not give them.
  function words(button, name, english) {
    return button.getAttribute("data-say-" + name) || english;
  }

  function say(button, text) {
    var box = document.getElementById(button.getAttribute("data-status"));
    if (box) { box.hidden = false; box.textContent = text; }
  }

  function post(url, body, token) {
    return fetch(url, {
      method: "POST", credentials: "same-origin", body: body || "",
      headers: { "X-CSRFToken": token, "Content-Type": "application/json" }
    }).then(function (r) { return r.json(); });
  }

  function run(button) {
    var token = document.querySelector('input[name="csrf_token"]');
    token = token ? token.value : "";
    var kind = button.getAttribute("data-passkey");
    var creating = kind === "register" || kind === "enroll";
    var form = document.getElementById(button.getAttribute("data-form") || "");
    var fields = form ? JSON.stringify({
      name: form.elements.email.value, code: form.elements.code.value
    }) : "";
    button.disabled = true;
    say(button, words(button, "waiting", "Waiting for your phone's screen lock…"));
    post(button.getAttribute("data-options"), fields, token).then(function (o) {
      if (o.error) throw new Error(o.error);
      return creating
        ? navigator.credentials.create({ publicKey: creationOptions(o) })
        : navigator.credentials.get({ publicKey: requestOptions(o) });
    }).then(function (cred) {
      return post(button.getAttribute("data-verify"), asJSON(cred), token);
    }).then(function (answer) {
      if (answer.redirect) { window.location.assign(answer.redirect); return; }
      throw new Error(answer.error);
    }).catch(function (error) {
      button.disabled = false;
      say(button, error && error.name === "NotAllowedError"
        ? words(button, "not-used", "The passkey was not used. Try again, or use your password.")
        : (error && error.message) || words(button, "failed", "That did not work. Try again."));
    });
  }

  function show(root) {
    if (!window.PublicKeyCredential || !navigator.credentials) return;
    root.querySelectorAll("[data-passkey], [data-passkey-box]").forEach(function (b) {
      b.hidden = false;
    });
  }

  document.addEventListener("DOMContentLoaded", function () { show(document); });
  document.addEventListener("htmx:load", function (e) { show(e.target); });
  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest("button[data-passkey]");
    if (button) { e.preventDefault(); run(button); }
  });
})();
