// Page side of the browser suite (classic script, CSP-friendly: no inline JS, no eval).
// Loaded before the page's entry script, which calls window.T.init(lib) with the library
// (the IIFE global `Realtime`, or the ESM namespace). Query parameters:
//   transport  one transport name forced with `transports: [name]`; absent or 'default': the default list
//   url        the realtime endpoint (default '/realtime', relative to the page)
//   opts       JSON merged into the client options
//   pid        this page's id (default random); every app message carries it
//   auto=0     do not start a client on init
// Everything observable is recorded in window.T for the test to poll. Workers load it too
// (test/browser/workers.test.ts): there it is self.T, the query is the worker script's, and the
// document's events are left out.
(function () {
  'use strict';
  var q = new URLSearchParams(location.search);
  var T = (self.T = {
    /** Differs on every real load; survives a back/forward-cache restore. */
    loadId: Math.random().toString(36).slice(2) + Date.now().toString(36),
    pid: q.get('pid') || 'p' + Math.random().toString(36).slice(2, 10),
    errors: [], // page errors and unhandled rejections
    violations: [], // securitypolicyviolation events
    lifecycle: [], // pagehide, pageshow, visibilitychange, freeze, resume, online, offline
    states: [], // client state after each 'state' event
    startedAt: null, // performance.now() when T.start() created the client
    opens: [], // { transport, resumed, at, ms: since startedAt, sends: how many T.sends there were then }
    closes: [], // { code, reason, willReconnect }
    rtErrors: [], // { code, message } of the client's 'error' events
    transports: [], // 'transport' events
    received: [], // every 'message', in arrival order
    sends: [], // { tag, i, status: 'pending' | 'resolved' | 'rejected', code }
    client: null,
    lib: null,
  });

  function describe(err) {
    return String((err && (err.stack || err.message)) || err);
  }
  self.addEventListener('error', function (e) {
    T.errors.push('error: ' + (e.error ? describe(e.error) : e.message));
  });
  self.addEventListener('unhandledrejection', function (e) {
    T.errors.push('unhandledrejection: ' + describe(e.reason));
  });
  var doc = typeof document === 'undefined' ? { addEventListener: function () {} } : document;
  doc.addEventListener('securitypolicyviolation', function (e) {
    T.violations.push(
      e.violatedDirective + ' blocked ' + (e.blockedURI || '(inline)') + ' at ' + e.sourceFile + ':' + e.lineNumber,
    );
  });
  ['pagehide', 'pageshow', 'online', 'offline'].forEach(function (type) {
    self.addEventListener(type, function (e) {
      T.lifecycle.push({ type: type, persisted: e.persisted, onLine: navigator.onLine, at: Date.now() });
    });
  });
  ['visibilitychange', 'freeze', 'resume'].forEach(function (type) {
    doc.addEventListener(type, function () {
      T.lifecycle.push({ type: type, visibility: document.visibilityState, at: Date.now() });
    });
  });

  T.init = function (lib) {
    T.lib = lib;
    if (q.get('auto') !== '0') T.start();
  };

  /** Creates and connects the client; `extra` overrides the options from the query string. */
  T.start = function (extra) {
    var opts = JSON.parse(q.get('opts') || '{}');
    var transport = q.get('transport');
    if (transport && transport !== 'default') opts.transports = [transport];
    if (extra) for (var k in extra) opts[k] = extra[k];
    opts.autoConnect = false; // listeners first, so they see every event
    T.startedAt = performance.now(); // the constructor's time, for timings measured in the page
    var c = (T.client = new T.lib.RealtimeClient(q.get('url') || '/realtime', opts));
    c.on('state', function (d) {
      T.states.push(d.to);
    });
    c.on('open', function (d) {
      T.opens.push({
        transport: d.transport,
        resumed: d.resumed,
        at: Date.now(),
        ms: performance.now() - T.startedAt,
        sends: T.sends.length,
      });
      // A new session: tell the server which page this is (a resumed one already knows).
      if (!d.resumed) control({ ctl: 'reg' });
    });
    c.on('close', function (d) {
      T.closes.push({ code: d.code, reason: d.reason, willReconnect: d.willReconnect });
    });
    c.on('error', function (e) {
      T.rtErrors.push({ code: e.code, message: e.message });
    });
    c.on('transport', function (d) {
      T.transports.push(d.to);
    });
    c.on('message', function (d) {
      T.received.push(d);
    });
    c.connect();
    return c;
  };

  /** A control message (not counted among T.sends); failures are recorded as rtErrors. */
  function control(msg) {
    msg.pid = T.pid;
    T.client.send(msg).catch(function (e) {
      T.rtErrors.push({ code: e.code, message: 'control ' + msg.ctl + ': ' + e.message });
    });
  }
  T.control = control;

  /** Sends `count` app messages { pid, tag, i } (i from the tag's next index), each tracked in T.sends. */
  T.send = function (tag, count) {
    var from = T.sends.filter(function (s) {
      return s.tag === tag;
    }).length;
    for (var n = 0; n < (count || 1); n++) sendOne(tag, from + n);
  };

  function sendOne(tag, i) {
    var rec = { tag: tag, i: i, status: 'pending', code: null, state: T.client.state, at: Date.now() };
    T.sends.push(rec);
    T.client.send({ pid: T.pid, tag: tag, i: i }).then(
      function () {
        rec.status = 'resolved';
      },
      function (e) {
        rec.status = 'rejected';
        rec.code = e.code;
        rec.message = e.message;
      },
    );
  }

  var loop = null;
  /** Keeps sending one message of `tag` every `ms`, until T.stopLoop(). */
  T.sendLoop = function (tag, ms) {
    T.stopLoop();
    loop = setInterval(function () {
      T.send(tag, 1);
    }, ms);
  };
  T.stopLoop = function () {
    if (loop !== null) clearInterval(loop);
    loop = null;
  };

  // ---- summaries, for waitForFunction / evaluate ----

  /** The `i`s of the echoes of `tag`, in arrival order. */
  T.echoes = function (tag) {
    return T.received
      .filter(function (d) {
        return d && d.echo && d.echo.tag === tag;
      })
      .map(function (d) {
        return d.echo.i;
      });
  };
  /** The `i`s of the server pushes of `tag`, in arrival order. */
  T.pushes = function (tag) {
    return T.received
      .filter(function (d) {
        return d && d.push === tag;
      })
      .map(function (d) {
        return d.i;
      });
  };
  /** Counts of T.sends by status for `tag` (all tags when omitted). */
  T.settled = function (tag) {
    var out = { pending: 0, resolved: 0, rejected: 0, total: 0 };
    T.sends.forEach(function (s) {
      if (tag !== undefined && s.tag !== tag) return;
      out[s.status]++;
      out.total++;
    });
    return out;
  };
  /** Emulates hiding or showing the page (visibilityState, hidden and a visibilitychange event). */
  T.emulateVisibility = function (state) {
    Object.defineProperty(document, 'visibilityState', {
      configurable: true,
      get: function () {
        return state;
      },
    });
    Object.defineProperty(document, 'hidden', {
      configurable: true,
      get: function () {
        return state === 'hidden';
      },
    });
    document.dispatchEvent(new Event('visibilitychange'));
  };
})();
