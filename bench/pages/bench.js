// Page side of `npm run bench` (classic script). The page's adapter script (ours.js,
// native-ws.js, native-sse.js, socketio.js) defines H.start(), which connects and sets
// H.send(obj); the adapter reports H.event('open' | 'close' | 'error', detail) and H.message(obj).
// bench/run.mjs drives the tests below through page.evaluate(). With ?auto=1 the page starts its
// client by itself once its scripts have run (the time to first message, bench/lib/first-message.mjs).
(function () {
  'use strict';
  var q = new URLSearchParams(location.search);
  var H = (window.H = {
    q: q,
    events: [],
    errors: [],
    /** performance.now() when the page's first script started, when H.start() was called, and at the first message. */
    scriptStart: performance.now(),
    startedAt: null,
    firstMessageAt: null,
    /** Called for each application message, as the library delivers it (parsed). */
    onMessage: null,
    /** Wall-clock ms with sub-ms resolution, comparable with the server's and bench/run.mjs's. */
    now: function () {
      return performance.timeOrigin + performance.now();
    },
    event: function (type, detail) {
      H.events.push({ type: type, t: H.now(), detail: detail === undefined ? null : detail });
    },
    message: function (m) {
      if (H.firstMessageAt === null) H.firstMessageAt = performance.now();
      if (H.onMessage) H.onMessage(m);
    },
    isolated: self.crossOriginIsolated,
    opens: function () {
      return H.events.filter(function (e) {
        return e.type === 'open';
      }).length;
    },
  });
  // The adapter's script (after this one) defines H.start; classic scripts have all run by DOMContentLoaded.
  if (q.get('auto') === '1')
    document.addEventListener('DOMContentLoaded', function () {
      H.startedAt = performance.now();
      H.start();
    });
  window.addEventListener('error', function (e) {
    H.errors.push('error: ' + e.message);
  });
  window.addEventListener('unhandledrejection', function (e) {
    var r = e.reason;
    H.errors.push('unhandledrejection: ' + String((r && (r.stack || r.message)) || r));
  });

  /** Drops what the page recorded, so that heap figures count the library, not this harness's log. */
  H.forget = function () {
    H.events.length = 0;
  };

  /** Padding so that {i, p} (or {echo, p}) serialises to `size` bytes for 5-digit numbers. */
  H.pad = function (size) {
    return 'x'.repeat(Math.max(0, size - JSON.stringify({ i: 10000, p: '' }).length));
  };

  function timeout(ms, what, reject) {
    return setTimeout(function () {
      reject(new Error('timed out after ' + ms + ' ms: ' + what()));
    }, ms);
  }

  /** Server -> client: asks for n messages of `size` bytes and times until the last arrives. */
  H.push = function (n, size, limitMs) {
    return new Promise(function (resolve, reject) {
      var count = 0;
      var outOfOrder = 0;
      var t0 = performance.now();
      var timer = timeout(
        limitMs || 120000,
        function () {
          return 'push ' + n + 'x' + size + ': got ' + count;
        },
        reject,
      );
      H.onMessage = function (m) {
        if (!m || m.i === undefined) return;
        if (m.i !== count) outOfOrder++;
        if (++count === n) {
          var ms = performance.now() - t0;
          clearTimeout(timer);
          H.onMessage = null;
          resolve({ ms: ms, count: count, outOfOrder: outOfOrder });
        }
      };
      H.send({ ctl: 'push', n: n, size: size });
    });
  };

  /** Client -> server: sends n messages of `size` bytes in one loop; times until the server says it has them all. */
  H.up = function (n, size, limitMs) {
    return new Promise(function (resolve, reject) {
      var p = H.pad(size);
      var t0 = performance.now();
      var timer = timeout(
        limitMs || 120000,
        function () {
          return 'up ' + n + 'x' + size;
        },
        reject,
      );
      H.onMessage = function (m) {
        if (!m || m.done === undefined) return;
        var ms = performance.now() - t0;
        clearTimeout(timer);
        H.onMessage = null;
        resolve({ ms: ms, count: m.done, loopMs: loopMs });
      };
      H.send({ ctl: 'up', n: n });
      for (var i = 0; i < n; i++) H.send({ i: i, p: p });
      var loopMs = performance.now() - t0;
    });
  };

  /** Echo round trips, one at a time: m timed after `warm` untimed ones. */
  H.rtt = function (m, size, warm, limitMs) {
    var p = H.pad(size);
    var times = [];
    var k = 0;
    return new Promise(function (resolve, reject) {
      var timer = timeout(
        limitMs || 120000,
        function () {
          return 'rtt: ' + k + ' of ' + (m + warm);
        },
        reject,
      );
      var t0;
      function next() {
        if (k === m + warm) {
          clearTimeout(timer);
          H.onMessage = null;
          return resolve(times);
        }
        t0 = performance.now();
        H.send({ echo: k, p: p });
      }
      H.onMessage = function (msg) {
        if (!msg || msg.echo !== k) return;
        var dt = performance.now() - t0;
        if (k >= warm) times.push(dt);
        k++;
        next();
      };
      next();
    });
  };

  /** k times: ask the server to drop the connection, wait until the client is open again. */
  H.cycles = function (k, limitMs) {
    return new Promise(function (resolve, reject) {
      var done = 0;
      var t0 = performance.now();
      var timer = timeout(
        limitMs || 300000,
        function () {
          return 'reconnect cycles: ' + done + ' of ' + k;
        },
        reject,
      );
      function next() {
        if (done === k) {
          clearTimeout(timer);
          return resolve({ ms: performance.now() - t0, cycles: done });
        }
        var opens = H.opens();
        H.send({ ctl: 'drop' });
        (function wait() {
          if (H.opens() > opens) {
            done++;
            // Let the client settle (acks, timers) before the next drop.
            return setTimeout(next, 0);
          }
          setTimeout(wait, 1);
        })();
      }
      next();
    });
  };
})();
