// leak.html: one client connected, used and closed again and again (window.L.cycle(n)), to show
// that nothing accumulates. instrument.js (loaded first) counts timers and listeners.
/* global Realtime -- defined by dist/realtime.min.js, which leak.html loads before this script */
(function () {
  'use strict';
  var q = new URLSearchParams(location.search);
  var transport = q.get('transport') || 'websocket';
  var L = (window.L = { client: null, cycles: 0, open: null });

  function once(type) {
    return new Promise(function (resolve, reject) {
      var offClose;
      var off = L.client.on(type, function (d) {
        off();
        offClose();
        resolve(d);
      });
      offClose = L.client.on('close', function (d) {
        if (d.willReconnect) return;
        off();
        offClose();
        reject(new Error('closed while waiting for ' + type + ': ' + d.code + ' ' + d.reason));
      });
    });
  }

  /**
   * n cycles of: connect(), await 'open', close(); every 10th cycle also sends one message and
   * awaits its ack before closing (every cycle would double the time of 1,000 cycles).
   */
  L.cycle = async function (n) {
    if (!L.client) {
      L.client = new Realtime.RealtimeClient('/realtime', { transports: [transport], autoConnect: false });
    }
    for (var k = 0; k < n; k++) {
      var opened = once('open');
      L.client.connect();
      await opened;
      if ((L.cycles + 1) % 10 === 0) await L.client.send({ pid: 'leak-' + transport, tag: 'leak', i: L.cycles });
      // Counted with the client open, in the last cycle of the batch.
      if (k === n - 1) L.open = window.__live();
      L.client.close();
      L.cycles++;
    }
    return { open: L.open, closed: window.__live(), cycles: L.cycles };
  };
})();
