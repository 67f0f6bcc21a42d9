// Shared page logic for the browser tests (classic script, no inline JS needed: CSP-friendly).
// window.startEcho(RealtimeClient, label) connects to ws://<this host>/realtime, sends
// { hello: label } and records everything in window.__rt for the test to poll.
(function () {
  'use strict';
  var state = (window.__rt = { label: null, received: [], acks: [], errors: [] });

  function describe(err) {
    return String((err && (err.stack || err.message)) || err);
  }
  window.addEventListener('error', function (e) {
    state.errors.push('error: ' + (e.error ? describe(e.error) : e.message));
  });
  window.addEventListener('unhandledrejection', function (e) {
    state.errors.push('unhandledrejection: ' + describe(e.reason));
  });
  document.addEventListener('securitypolicyviolation', function (e) {
    state.errors.push('CSP violation: ' + e.violatedDirective + ' blocked ' + e.blockedURI);
  });

  window.startEcho = function (RealtimeClient, label) {
    state.label = label;
    try {
      var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/realtime';
      var client = new RealtimeClient(url);
      window.__client = client;
      client.on('message', function (data) {
        state.received.push(data);
      });
      client.send({ hello: label }).then(
        function (ack) {
          state.acks.push(ack === undefined ? null : ack);
        },
        function (err) {
          state.errors.push('send() rejected: ' + describe(err));
        },
      );
    } catch (err) {
      state.errors.push('startEcho threw: ' + describe(err));
    }
  };
})();
