/* Offline queue for the check-in and the questionnaires, loaded by sw.js.
   A form POST that cannot reach the server is kept in IndexedDB with the idempotency key
   made on the phone, and answered with a precached "saved on your phone" page (with crisis
   help when an answer was a risk answer). The queue is sent when the signal returns: on the
   next page the phone loads, and by Background Sync where the browser has it. The server
   stores each key once, so a resend is harmless; an item is deleted once the server has it,
   so nothing readable about the patient stays on the phone. An item is sent only under the
   account that gave it (the form's opaque queue_owner mark): on a shared phone, someone
   else signing in never sends it as theirs. */
"use strict";
const QUEUE_DB = "portal-queue";
const QUEUE_STORE = "pending";
const QUEUE_PATHS = ["/check-in", "/questions/a", "/questions/b", "/questions/c"];
const SAVED_PAGES = ["/saved-offline", "/saved-offline?help=1"];

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
  return (await caches.match(page)) ||
    new Response("Saved on your phone. It will be sent when you have signal.",
      { headers: { "Content-Type": "text/plain; charset=utf-8" } });
}

let flushing = null;

function flushQueue() {
  if (!flushing) {
    flushing = sendAll().finally(() => { flushing = null; });
  }
  return flushing;
}

// What became of one item: sent (delete it), wait (no signal or nobody signed in: try
// again later, in order), or not yours (someone else is signed in on this phone: keep it
// for its owner, and go on with the rest).
const SENT = "sent", WAIT = "wait", NOT_YOURS = "not yours";

async function sendAll() {
  const items = await queueOp("readonly", (store) => store.getAll());
  for (const item of items || []) {
    const outcome = await sendOne(item).catch(() => WAIT);
    if (outcome === WAIT) { return; }
    if (outcome === SENT) {
      await queueOp("readwrite", (store) => store.delete(item.key));
    }
  }
}

function fieldValue(html, name) {
  const found = html.match(new RegExp(`name="${name}"[^>]*value="([^"]+)"`));
  return found ? found[1] : null;
}

async function sendOne(item) {
  // Signed in? Ask with HEAD first: it changes nothing on the server, where a GET while
  // signed out would start a session and set the page to open after the next sign-in,
  // racing the sign-in form the person may be filling in.
  const probe = await fetch(item.path,
    { method: "HEAD", credentials: "same-origin", redirect: "manual" });
  if (probe.type === "opaqueredirect" || !probe.ok) { return WAIT; }
  // A fresh CSRF token from the form page: the one saved with the answers may belong to
  // a session that has since ended.
  const page = await fetch(item.path, { credentials: "same-origin", redirect: "manual" });
  if (page.type === "opaqueredirect" || !page.ok) { return WAIT; }
  const html = await page.text();
  const token = fieldValue(html, "csrf_token");
  if (!token) { return WAIT; }
  const form = new URLSearchParams(item.body);
  const owner = form.get("queue_owner");
  if (owner && owner !== fieldValue(html, "queue_owner")) { return NOT_YOURS; }
  form.set("csrf_token", token);
  const response = await fetch(item.path, {
    method: "POST", body: form, credentials: "same-origin", redirect: "manual",
    headers: { "X-Queued-Submission": "1" },
  });
  // 200: stored (or already stored: same key). 422: the answers were not valid (a risk
  // answer among them still reached the team); keeping them would block the queue.
  return response.status === 200 || response.status === 422 ? SENT : WAIT;
}

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(VERSION).then((cache) =>
    cache.addAll(SAVED_PAGES.map((url) => new Request(url, { credentials: "omit" })))));
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (request.method === "POST" && QUEUE_PATHS.includes(url.pathname)) {
    const copy = request.clone();
    event.respondWith(fetch(request).catch(() => keepForLater(copy)));
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
