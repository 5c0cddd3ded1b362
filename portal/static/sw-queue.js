/* Offline queue for the check-in and the questionnaires, loaded by sw.js.
   A form POST that cannot reach the server, or that the server answers with an error of
   its own (5xx: a database down, an overload), is kept in IndexedDB under the sending's
   key and answered with a precached "saved on your phone" page (with crisis help when an
   answer was a risk answer). The queue is sent when the signal returns: on the next page
   the phone loads, and by Background Sync where the browser has it.

   A kept sending goes to /queued/<path> with no cookie at all: the signed token in the
   form ("sender") names the patient and the key, so it is stored as theirs even if their
   session has ended or someone else has signed in on this phone since, and never as
   anyone else. The server stores each key once, so a resend is harmless. An item leaves
   the phone once the server has answered it: stored (2xx), or refused for good (4xx:
   the token is too old or not genuine, the answers cannot be stored; a risk answer
   among them has reached the team already). A refused item never blocks the ones behind
   it; only no signal, a 5xx or 429 keeps the queue waiting, in order.

   The "saved on your phone" page is answered in the language of the page the answers
   came from (the form's own `language` field): each saved page is precached in every
   language the portal has, asked for with that language and no cookie, and kept under
   an address of its own per language ("?lang=es"): Chromium's cache keeps one entry
   per address, so copies told apart only by Vary: Accept-Language replace each other. */
"use strict";
const QUEUE_DB = "portal-queue";
const QUEUE_STORE = "pending";
const QUEUE_PATHS = ["/check-in", "/questions/a", "/questions/b", "/questions/c"];
const SAVED_PAGES = ["/saved-offline", "/saved-offline?help=1"];
const LANGUAGES = ["en", "es"];
// The last resort, when no saved page is in the cache at all.
const SAVED_WORDS = {
  en: "Saved on your phone. It will be sent when you have signal.",
  es: "Guardado en su teléfono. Se enviará cuando tenga señal.",
};

// A saved page asked for in one language (the server's pages vary on Accept-Language),
// and the address its copy is kept under in the cache (never asked of the server).
function savedRequest(url, language) {
  return new Request(url, { credentials: "omit", headers: { "Accept-Language": language } });
}

function savedKey(url, language) {
  return url + (url.includes("?") ? "&" : "?") + "lang=" + language;
}

function precacheSavedPages(cache) {
  return Promise.all(SAVED_PAGES.flatMap((url) => LANGUAGES.map((language) =>
    fetch(savedRequest(url, language)).then((response) => {
      if (!response.ok) { throw new Error("could not precache " + url); }
      return cache.put(savedKey(url, language), response);
    }))));
}

function openQueue() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(QUEUE_DB, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(QUEUE_STORE, { keyPath: "key" });
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function queueOp(mode, work) {
  return openQueue().then((db) => new Promise((resolve, reject) => {
    const tx = db.transaction(QUEUE_STORE, mode);
    const result = work(tx.objectStore(QUEUE_STORE));
    tx.oncomplete = () => { db.close(); resolve(result && result.result); };
    tx.onerror = () => { db.close(); reject(tx.error); };
  }));
}

function isRiskAnswer(path, form) {
  if (form.get("feels_safe") === "no") { return true; }
  if (path === "/questions/a") { return ["1", "2", "3"].includes(form.get("q9")); }
  if (path === "/questions/c") {
    return ["q1", "q2", "q3", "q4", "q5", "q6"].some((name) => form.get(name) === "1");
  }
  return false;
}

async function keepForLater(request) {
  const path = new URL(request.url).pathname;
  const body = await request.text();
  const form = new URLSearchParams(body);
  const key = form.get("idempotency_key") || String(Date.now());
  await queueOp("readwrite", (store) => store.put({ key, path, body }));
  if (self.registration.sync) {
    self.registration.sync.register("portal-queue").catch(() => {});
  }
  const page = isRiskAnswer(path, form) ? SAVED_PAGES[1] : SAVED_PAGES[0];
  const language = LANGUAGES.includes(form.get("language")) ? form.get("language") : "en";
  return (await caches.match(savedKey(page, language), { ignoreVary: true })) ||
    (await caches.match(savedKey(page, "en"), { ignoreVary: true })) ||
    new Response(SAVED_WORDS[language],
      { headers: { "Content-Type": "text/plain; charset=utf-8" } });
}

let flushing = null;

function flushQueue() {
  if (!flushing) {
    flushing = sendAll().finally(() => { flushing = null; });
  }
  return flushing;
}

// What became of one item: done (the server has it, or refused it for good: delete
// it) or wait (no signal, or the server is failing: try again later, in order).
const DONE = "done", WAIT = "wait";

async function sendAll() {
  const items = await queueOp("readonly", (store) => store.getAll());
  for (const item of items || []) {
    const outcome = await sendOne(item).catch(() => WAIT);
    if (outcome === WAIT) { return; }
    await queueOp("readwrite", (store) => store.delete(item.key));
  }
}

async function sendOne(item) {
  const response = await fetch("/queued" + item.path, {
    method: "POST",
    body: new URLSearchParams(item.body),
    credentials: "omit",
    redirect: "manual",
  });
  if (response.status >= 500 || response.status === 429 || response.status === 0) {
    return WAIT;
  }
  return DONE;
}

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(VERSION).then(precacheSavedPages));
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (request.method === "POST" && QUEUE_PATHS.includes(url.pathname)) {
    const copy = request.clone();
    event.respondWith(
      fetch(request)
        .then((response) => (response.status >= 500 || response.status === 429
          ? keepForLater(copy) : response))
        .catch(() => keepForLater(copy))
    );
    return;
  }
  // Any page the patient opens is a sign of signal: a real navigation, or an hx-boost
  // one (a fetch with the HX-Boosted header, not mode "navigate").
  if (request.method === "GET" &&
      (request.mode === "navigate" || request.headers.get("HX-Boosted") === "true")) {
    event.waitUntil(flushQueue().catch(() => {}));
  }
});

self.addEventListener("sync", (event) => {
  if (event.tag === "portal-queue") { event.waitUntil(flushQueue()); }
});

self.addEventListener("message", (event) => {
  if (event.data === "flush-queue") { event.waitUntil(flushQueue().catch(() => {})); }
});
