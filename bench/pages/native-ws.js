// Native WebSocket baseline: one JSON text frame per message, parsed by the page.
// With ?reconnect=1 it reconnects at once on close (for the reconnect-cycle memory test).
/* global H -- defined by bench.js, which the page loads before this script */
(function () {
  'use strict';
  H.lib = 'native-ws';
  H.start = function () {
    var url = 'ws://' + location.host + (H.q.get('path') || '/ws');
    var ws;
    function connect() {
      ws = new WebSocket(url);
      ws.onopen = function () {
        H.event('open');
      };
      ws.onmessage = function (e) {
        H.message(JSON.parse(e.data));
      };
      ws.onclose = function (e) {
        H.event('close', { code: e.code });
        if (H.q.get('reconnect') === '1' && !H.closed) connect();
      };
    }
    connect();
    H.send = function (obj) {
      ws.send(JSON.stringify(obj));
    };
    H.close = function () {
      H.closed = true;
      ws.close();
    };
  };
})();
