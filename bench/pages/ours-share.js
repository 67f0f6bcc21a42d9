// realtime-client, the ESM build, with `share: tabSharing()` when the query has share=1 (the
// tab-sharing part of `npm run bench`, bench/lib/share.mjs). Query: transport, path, share.
// H.leading() says whether this tab holds the shared connection (it announced itself ready).
/* global H -- defined by bench.js, which the page loads before this module */
import { RealtimeClient } from '/dist/index.js';
import { tabSharing } from '/dist/share.js';

let ready = false;
const post = BroadcastChannel.prototype.postMessage;
BroadcastChannel.prototype.postMessage = function (m) {
  if (m && m.t === 'ready') ready = true;
  return post.call(this, m);
};
H.leading = () => ready;
H.lib = 'ours-share';
H.start = function () {
  const q = H.q;
  const opts = { transports: [q.get('transport') || 'websocket'] };
  if (q.get('share') === '1') opts.share = tabSharing();
  const client = (H.client = new RealtimeClient(q.get('path') || '/realtime', opts));
  client.on('open', (d) => H.event('open', d));
  client.on('close', (d) => H.event('close', d));
  client.on('error', (e) => H.event('error', { code: e.code, message: e.message }));
  client.on('message', (m) => {
    // The ticks of the failover measure: when each arrived here.
    if (m && m.tick !== undefined) H.ticks.push([m.tick, H.now()]);
    H.message(m);
  });
  H.send = (obj) => client.send(obj).catch((e) => H.errors.push(`send: ${e.code} ${e.message}`));
};
H.ticks = [];
