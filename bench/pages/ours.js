// realtime-client (the IIFE build, global Realtime). Query: transport (one name, or 'default' for the
// default list), path, opts (JSON options).
/* global H, Realtime -- defined by bench.js and dist/realtime.min.js, which the page loads before this script */
(function () {
  'use strict';
  H.lib = 'ours';
  H.start = function () {
    var q = H.q;
    var opts = JSON.parse(q.get('opts') || '{}');
    var transport = q.get('transport') || 'websocket';
    // 'default': the client's own list, as an application that sets none has it.
    if (transport !== 'default') opts.transports = [transport];
    var client = (H.client = new Realtime.RealtimeClient(q.get('path') || '/realtime', opts));
    client.on('open', function (d) {
      H.event('open', d);
    });
    client.on('close', function (d) {
      H.event('close', d);
    });
    client.on('error', function (e) {
      H.event('error', { code: e.code, message: e.message });
    });
    client.on('message', H.message);
    var failed = function (e) {
      H.errors.push('send: ' + e.code + ' ' + e.message);
    };
    H.send = function (obj) {
      var sent = client.send(obj);
      sent.catch(failed);
      return sent;
    };
    H.close = function () {
      client.close();
    };
  };
})();
