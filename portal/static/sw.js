/* Service worker: precaches the public shell (crisis help, offline page, CSS, JS, icons)
   and never stores authenticated pages. Bump VERSION when the shell changes. */
"use strict";
const VERSION = "shell-v5";
const SHELL = [
  "/crisis",
  "/offline",
  "/static/app.css",
  "/static/app.js",
  "/static/htmx-2.0.8.min.js",
  "/static/icons/icon-192.png",
];
// The pages kept here that speak to the patient, in the language they read the portal
// in (sw-queue.js adds its "saved on your phone" pages).
const LANGUAGE_PAGES = ["/crisis", "/offline"];

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

// ---- the language of the kept pages ----
// They are fetched without cookies (nothing signed in is ever kept here), so in the
// language the browser asks for. Each page the patient opens tells this worker its
// language (app.js); when the kept offline page is in another one, every kept page is
// fetched again, asking for that language. The words this worker shows itself come from
// the kept offline page too (data-sw-* on its heading).
function keptOfflinePage() {
  return caches.match("/offline").then((hit) => (hit ? hit.text() : "")).catch(() => "");
}

function attribute(value) {
  return value.replace(/&quot;/g, "\"").replace(/&#34;/g, "\"").replace(/&#39;/g, "'")
    .replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

function pageWords() {
  return keptOfflinePage().then((html) => {
    const words = {};
    const language = /<html[^>]*\slang="([A-Za-z-]+)"/.exec(html);
    words.language = language ? language[1] : "";
    html.replace(/\sdata-sw-([a-z-]+)="([^"]*)"/g, (all, name, value) => {
      words[name] = attribute(value);
      return all;
    });
    return words;
  });
}

function keepPagesIn(language) {
  return caches.open(VERSION).then((cache) => Promise.all(LANGUAGE_PAGES.map((path) =>
    fetch(new Request(path, { credentials: "omit", headers: { "Accept-Language": language } }))
      .then((response) => (response.ok ? cache.put(path, response) : null))
      .catch(() => null))));
}

self.addEventListener("message", (event) => {
  const data = event.data || {};
  if (data.type !== "page-language" || !/^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})?$/.test(data.language || "")) {
    return;
  }
  event.waitUntil(pageWords().then((words) =>
    (words.language === data.language ? null : keepPagesIn(data.language))));
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
  // The server always sends a title and a body; the words here are for a push without
  // them, from the kept offline page (its language), English when it is not kept.
  event.waitUntil(pageWords().then((words) => {
    const title = typeof data.title === "string" && data.title
      ? data.title : words.notification || "Notification";
    const options = {
      body: typeof data.body === "string"
        ? data.body : words["something-new"] || "There is something new for you",
      icon: "/static/icons/icon-192.png",
      badge: "/static/icons/icon-192.png",
      // The same tag replaces rather than repeats: a retried push never shows twice.
      tag: typeof data.tag === "string" ? data.tag : undefined,
      data: { url: samePath(data.url, "/notifications") },
    };
    return self.registration.showNotification(title, options);
  }));
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
