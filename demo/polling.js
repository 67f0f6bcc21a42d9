// Classic polling beside the plain long-poll client, on the same endpoint, with each side's
// requests and response bytes counted.
/* global Realtime -- defined by dist/realtime.min.js, which polling.html loads before this script */
const $ = (id) => document.getElementById(id);
const POLL_MS = 2000;
const sides = { classic: makeSide('classic'), live: makeSide('live') };

/** fetch, counting each request and the bytes of its response (status line, headers, body). */
function countingFetch(side) {
  return async (input, init) => {
    const res = await fetch(input, init);
    let bytes =
      `HTTP/1.1 ${res.status} ${res.statusText}\r\n\r\n`.length + Number(res.headers.get('Content-Length') || 0);
    res.headers.forEach((value, name) => (bytes += name.length + value.length + 4));
    side.record(res.status, bytes);
    return res;
  };
}

// --- left: what the page does today ---
{
  const fetchCounted = countingFetch(sides.classic);
  let etag = null;
  setInterval(async () => {
    try {
      // no-store: the browser's cache would otherwise turn some 304s into 200s we never see.
      const res = await fetchCounted('/api/status', {
        headers: etag ? { 'If-None-Match': etag } : {},
        cache: 'no-store',
      });
      if (res.status === 304) return;
      etag = res.headers.get('ETag');
      sides.classic.render(await res.json());
    } catch {
      // A failed poll (server restarting, offline) shows nothing new: the next one tries again.
    }
  }, POLL_MS);
}

// --- right: the same feature on the client's plain long-poll mode ---
if (!Realtime.transports.some((t) => t.name === 'long-poll')) {
  $('notice').hidden = false;
  $('notice').textContent =
    `Plain long-poll arrives with the HTTP transports: this build has only ${Realtime.transports.map((t) => t.name).join(', ')}. ` +
    'The code on the left keeps running; this side will work unchanged once long-poll is in the build.';
  sides.live.view.textContent = 'Not running in this build.';
} else {
  const client = new Realtime.RealtimeClient('/api/status', {
    protocol: 'plain',
    transports: ['long-poll'],
    env: { fetch: countingFetch(sides.live) },
    autoConnect: false, // so the state listener sees the first transition
  });
  client.on('message', (status) => sides.live.render(status));
  client.on('state', ({ to }) => {
    $('live-state').textContent = to;
    $('live-state').className = `badge state-${to}`;
  });
  client.connect();
}

setInterval(summarise, 1000);

function summarise() {
  const c = sides.classic;
  const l = sides.live;
  if (!l.requests) {
    $('summary').textContent =
      `Polling so far: ${c.requests} requests (${c.notModified} of them 304, carrying nothing new), ≈${kb(c.bytes)} of responses; changes appear ${avg(c)} after they happen, on average.`;
    return;
  }
  const fewer = Math.round((1 - l.requests / c.requests) * 100);
  const ratio = fewer >= 0 ? `${fewer}% fewer requests` : `${-fewer}% more requests`;
  $('summary').textContent =
    `Long-poll: ${l.requests} requests and ≈${kb(l.bytes)} against ${c.requests} requests and ≈${kb(c.bytes)} for polling (${ratio}). Changes appear ${avg(l)} after they happen instead of ${avg(c)}, on average.`;
}

function makeSide(name) {
  const view = document.querySelector(`.view[data-side="${name}"]`);
  const side = { requests: 0, notModified: 0, bytes: 0, shown: 0, delay: 0, view };
  const counters = document.createElement('p');
  counters.className = 'counters';
  const log = document.createElement('ol');
  log.className = 'requests';
  const status = document.createElement('dl');
  status.className = 'status';
  view.after(counters, log);
  view.append(status);

  side.record = (code, bytes) => {
    side.requests++;
    if (code === 304) side.notModified++;
    side.bytes += bytes;
    counters.textContent = `${side.requests} requests · ${side.notModified} × 304 · ≈${kb(side.bytes)} received`;
    const li = document.createElement('li');
    li.textContent = `${new Date().toLocaleTimeString([], { hour12: false })}  ${code}  ${bytes} B`;
    if (code === 304) li.className = 'muted';
    log.prepend(li);
    while (log.children.length > 5) log.lastChild.remove();
  };
  side.render = (s) => {
    const delay = Date.now() - s.updatedAt;
    // The first render shows whatever was current at page load: its age says nothing about either way.
    if (side.rendered) {
      side.shown++;
      side.delay += delay;
    }
    side.rendered = true;
    const rows = [
      ['Waiting', s.waiting],
      ['Packing', s.packing],
      ['Shipped', s.shipped],
      ['Latest', s.last],
      ['Shown', `${delay} ms after the change`],
    ];
    status.replaceChildren(...rows.flatMap(([k, v]) => [el('dt', k), el('dd', String(v))]));
  };
  return side;
}

function el(tag, text) {
  const e = document.createElement(tag);
  e.textContent = text;
  return e;
}

const kb = (bytes) => (bytes < 10240 ? `${bytes} B` : `${(bytes / 1024).toFixed(1)} KB`);
const avg = (side) => (side.shown ? `${Math.round(side.delay / side.shown)} ms` : '—');
