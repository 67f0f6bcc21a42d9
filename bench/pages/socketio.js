// socket.io-client (its browser bundle, global io). Query: transport ('websocket' | 'polling' | 'default'),
// path (default /socket.io), opts (JSON Manager options, e.g. reconnectionDelay).
/* global H, io -- defined by bench.js and socket.io.min.js, which the page loads before this script */
(function () {
  'use strict';
  H.lib = 'socket.io';
  H.start = function () {
    var q = H.q;
    var opts = JSON.parse(q.get('opts') || '{}');
    opts.path = q.get('path') || '/socket.io';
    var transport = q.get('transport') || 'websocket';
    // 'default': socket.io's own list (polling first, then the upgrade to websocket).
    if (transport !== 'default') opts.transports = [transport];
    var socket = (H.client = io(opts));
    socket.on('connect', function () {
      H.event('open', { transport: socket.io.engine.transport.name });
    });
    socket.on('disconnect', function (reason) {
      H.event('close', { reason: reason });
    });
    socket.on('connect_error', function (e) {
      H.event('error', { message: String(e && e.message) });
    });
    socket.on('m', H.message);
    H.send = function (obj) {
      socket.emit('m', obj);
    };
    H.close = function () {
      socket.close();
    };
  };
})();
