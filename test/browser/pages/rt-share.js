// Entry of rt-share.html: the ESM build with `share: tabSharing()` from dist/share.js added to
// the page's options (share=0 in the query leaves it out, for the comparison without sharing).
// T.leading() says whether this tab holds the connection: it is the last to have announced
// itself ready on the tabs' channel, as seen from here (a test reads it from every live tab):
// it posted 'ready', and since then neither heard another tab's 'ready' nor asked to follow one
// ('join': a tab that woke up to find another holding the connection may not hear its 'ready').
import * as Realtime from '/dist/index.js';
import { tabSharing } from '/dist/share.js';

const share = new URLSearchParams(location.search).get('share') !== '0';
const T = window.T;
T.readyAt = 0;
T.otherReadyAt = 0;
T.joinedAt = 0;
const post = BroadcastChannel.prototype.postMessage;
BroadcastChannel.prototype.postMessage = function (m) {
  if (m && m.t === 'ready') T.readyAt = performance.timeOrigin + performance.now();
  if (m && m.t === 'join') T.joinedAt = performance.timeOrigin + performance.now();
  return post.call(this, m);
};
window.BroadcastChannel = class extends BroadcastChannel {
  constructor(name) {
    super(name);
    this.addEventListener('message', (e) => {
      if (e.data && e.data.t === 'ready') T.otherReadyAt = performance.timeOrigin + performance.now();
    });
  }
};
T.leading = () => T.readyAt > Math.max(T.otherReadyAt, T.joinedAt);

class RealtimeClient extends Realtime.RealtimeClient {
  constructor(url, options) {
    super(url, share ? { ...options, share: tabSharing() } : options);
  }
}
T.init({ ...Realtime, RealtimeClient });
