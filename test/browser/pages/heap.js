// heap.html: one client whose connection the server drops again and again (window.H.cycles(n)),
// to show that reconnecting retains nothing. The page keeps counters only, so that the heap it
// holds does not grow with the cycles either.
/* global Realtime -- defined by dist/realtime.min.js, which heap.html loads before this script */
(function () {
  'use strict';
  var q = new URLSearchParams(location.search);
  var transport = q.get('transport') || 'websocket';
  var pid = q.get('pid');
  var H = (window.H = { opens: 0, errors: 0, client: null });
  // Fast reconnects, so hundreds of cycles take seconds.
  var client = (H.client = new Realtime.RealtimeClient('/realtime', {
    transports: [transport],
    reconnect: { initialDelay: 1, maxDelay: 1 },
  }));
  client.on('open', function () {
    H.opens++;
    client.send({ pid: pid, ctl: 'reg' });
  });
  client.on('error', function () {
    H.errors++;
  });

  /** n times: the server drops the connection (ctl 'drop'), and the client is open again. */
  H.cycles = async function (n) {
    for (var k = 0; k < n; k++) {
      var before = H.opens;
      await client.send({ pid: pid, ctl: 'drop' });
      while (H.opens === before)
        await new Promise(function (r) {
          setTimeout(r, 1);
        });
    }
    return H.opens;
  };
})();
