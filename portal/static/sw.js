/* Service worker: precaches the public shell (crisis help, offline page, CSS, JS, icons)
   and never stores authenticated pages. Bump VERSION when the shell changes. */
"use strict";
const VERSION = "shell-v3";
const SHELL = [
  "/crisis",
  "/offline",
  "/static/app.css",
  "/static/app.js",
  "/static/htmx-2.0.8.min.js",
  "/static/icons/icon-192.png",
];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(VERSION)
      .then((cache) => cache.addAll(SHELL.map((url) => new Request(url, { credentials: "omit" }))))
      .then(() => self.skipWaiting())
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== VERSION).map((k) => caches.delete(k))))
      .then(() => self.clients.claim())
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") { return; }
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (url.pathname.startsWith("/static/")) {
    // Static files carry a content hash in ?v=, so an exact hit is always current.
    // Otherwise fetch and keep it; with no signal, any cached copy of that path.
    event.respondWith(
      caches.match(request).then((hit) => hit || fetch(request).then((response) => {
        if (response.ok) {
          const copy = response.clone();
          caches.open(VERSION).then((cache) => cache.put(request, copy));
        }
        return response;
      }).catch(() => caches.match(request, { ignoreSearch: true })))
    );
    return;
  }
  if (request.mode === "navigate") {
    // Pages: always the network (nothing authenticated is ever stored here). With no
    // signal, or when the server answers with an error of its own (5xx), the
    // precached crisis page or offline page, both with crisis help.
    const fallback = () => caches.match(url.pathname === "/crisis" ? "/crisis" : "/offline");
    event.respondWith(
      fetch(request)
        .then((response) => (response.status >= 500 ? fallback().then((hit) => hit || response) : response))
        .catch(fallback)
    );
  }
});

// ---- notifications: show a push, open the app on click ----
// A push carries only the app's name, a generic sentence and an opaque link
// ("/n/<id>"); the server decides after sign-in which page that is.
function samePath(value, fallback) {
  return typeof value === "string" && value.charAt(0) === "/" && value.charAt(1) !== "/" &&
    value.charAt(1) !== "\\" ? value : fallback;
}

self.addEventListener("push", (event) => {
  let data = {};
  try { data = event.data ? event.data.json() : {}; } catch (error) { data = {}; }
  const title = typeof data.title === "string" && data.title ? data.title : "Notification";
  const options = {
    body: typeof data.body === "string" ? data.body : "There is something new for you",
    icon: "/static/icons/icon-192.png",
    badge: "/static/icons/icon-192.png",
    // The same tag replaces rather than repeats: a retried push never shows twice.
    tag: typeof data.tag === "string" ? data.tag : undefined,
    data: { url: samePath(data.url, "/notifications") },
  };
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = new URL(samePath((event.notification.data || {}).url, "/notifications"),
    self.location.origin).href;
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      const open = windows.find((client) => new URL(client.url).origin === self.location.origin);
      if (!open) { return self.clients.openWindow(target); }
      // navigate() works only on a page this worker controls; otherwise open a new one.
      return open.focus()
        .then((client) => (client || open).navigate(target))
        .catch(() => self.clients.openWindow(target));
    })
  );
});

// The offline queue for check-ins and questionnaires (uses VERSION above).
importScripts("/static/sw-queue.js");
