// Loaded before everything else on leak.html: counts live timers and event listeners on window
// and document, by wrapping setTimeout/clearTimeout, setInterval/clearInterval and
// addEventListener/removeEventListener. window.__live() returns the counts.
(function () {
  'use strict';
  var timeouts = new Set();
  var intervals = new Set();
  var setT = window.setTimeout;
  var clearT = window.clearTimeout;
  var setI = window.setInterval;
  var clearI = window.clearInterval;

  window.setTimeout = function (fn, ms) {
    var args = Array.prototype.slice.call(arguments, 2);
    var id = setT.call(
      window,
      function () {
        timeouts.delete(id);
        if (typeof fn === 'function') fn.apply(window, args);
      },
      ms,
    );
    timeouts.add(id);
    return id;
  };
  window.clearTimeout = function (id) {
    timeouts.delete(id);
    return clearT.call(window, id);
  };
  window.setInterval = function () {
    var id = setI.apply(window, arguments);
    intervals.add(id);
    return id;
  };
  window.clearInterval = function (id) {
    intervals.delete(id);
    return clearI.call(window, id);
  };

  /** Live listeners of one target: type → listener → set of capture flags (as the DOM dedupes them). */
  function track(target) {
    var live = new Map();
    var add = target.addEventListener;
    var remove = target.removeEventListener;
    var capture = function (options) {
      return typeof options === 'boolean' ? options : !!(options && options.capture);
    };
    target.addEventListener = function (type, listener, options) {
      if (listener) {
        if (!live.has(type)) live.set(type, new Map());
        var byListener = live.get(type);
        if (!byListener.has(listener)) byListener.set(listener, new Set());
        byListener.get(listener).add(capture(options));
      }
      return add.apply(this, arguments);
    };
    target.removeEventListener = function (type, listener, options) {
      var byListener = live.get(type);
      var flags = byListener && byListener.get(listener);
      if (flags) {
        flags.delete(capture(options));
        if (!flags.size) byListener.delete(listener);
      }
      return remove.apply(this, arguments);
    };
    return function count() {
      var total = 0;
      var byType = {};
      live.forEach(function (byListener, type) {
        var n = 0;
        byListener.forEach(function (flags) {
          n += flags.size;
        });
        if (n) byType[type] = n;
        total += n;
      });
      return { total: total, byType: byType };
    };
  }
  var onWindow = track(window);
  var onDocument = track(document);

  window.__live = function () {
    return { timeouts: timeouts.size, intervals: intervals.size, window: onWindow(), document: onDocument() };
  };
})();
