// Native EventSource baseline: one SSE event per message, parsed by the page; control by POST.
/* global H -- defined by bench.js, which the page loads before this script */
(function () {
  'use strict';
  H.lib = 'native-sse';
  H.start = function () {
    var id = Math.random().toString(36).slice(2);
    var es = new EventSource('/sse?id=' + id);
    es.onopen = function () {
      H.event('open');
    };
    es.onmessage = function (e) {
      H.message(JSON.parse(e.data));
    };
    es.onerror = function () {
      H.event('close', { readyState: es.readyState });
    };
    H.send = function (obj) {
      fetch('/sse-ctl?id=' + id, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: JSON.stringify(obj),
      });
    };
    H.close = function () {
      es.close();
    };
  };
})();
