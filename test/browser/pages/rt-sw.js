// The Service Worker of workers.test.ts: a classic one, loading the IIFE build with
// importScripts (which every browser with Service Workers has; a module Service Worker would need
// a bundle, as module workers do). The client starts when the script runs, the query of the
// script's URL saying how (see rt-page.js), and rt-page.js records into self.T.
/* global importScripts -- a worker's global, which the browser globals of eslint.config.mjs leave out */
importScripts('/dist/realtime.min.js', '/test/browser/pages/rt-page.js');

// Take over at once, so the test need not reload the page.
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.T.init(self.Realtime);
