// Live dashboard on the ESM build. The transport list comes from the build itself, so the
// picker offers whatever transports this build includes.
import { RealtimeClient, transports } from '/dist/index.js';

const $ = (id) => document.getElementById(id);
const randomId = () =>
  Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, '0')).join('');
const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false }) + '.' + String(ms % 1000).padStart(3, '0');

// Identifies this page's connections, so a simulated outage refuses only ours.
const cid = randomId();
const WINDOW_MS = 60_000;
/** RTT samples and connection losses of the last minute, for the chart. */
const samples = [];
const losses = [];
const ticks = { count: 0, missing: 0, late: 0, expected: 0, last: null };
let client = null;
let resumes = 0;
let unsubscribe = [];

for (const name of transports.map((t) => t.name)) $('pick').append(new Option(name, name));
$('available').textContent = `In this build: ${transports.map((t) => t.name).join(', ')}`;
$('pick').addEventListener('change', () => connect($('pick').value));
$('drop').addEventListener('click', () => client.send({ type: 'drop' }).catch(() => {}));
$('outage').addEventListener('click', () => {
  const seconds = Math.min(Math.max(Number($('seconds').value) || 5, 1), 60);
  log('control', `Outage requested: this page's connections refused for ${seconds} s`);
  client.send({ type: 'outage', seconds, cid }).catch(() => {});
});

connect('auto');

/** A fresh client: a forced transport means a new session, so the old client is closed for good. */
function connect(choice) {
  if (client) {
    for (const off of unsubscribe) off();
    client.close();
    log('control', `Closed the client to switch to transports: ${choice}`);
  }
  resumes = 0;
  $('session').textContent = '';
  // autoConnect: false, so the listeners below see every event from the first one.
  client = new RealtimeClient(
    `/realtime?cid=${cid}`,
    choice === 'auto' ? { autoConnect: false } : { autoConnect: false, transports: [choice] },
  );
  unsubscribe = [
    client.on('state', ({ from, to }) => {
      showState(to);
      log('state', `${from} → ${to}`);
      if (from === 'open' && to === 'reconnecting') losses.push(Date.now());
    }),
    client.on('reconnecting', ({ attempt, delay }) => log('retry', `Reconnect attempt ${attempt} in ${delay} ms`)),
    client.on('close', ({ code, reason, willReconnect }) => {
      log('close', `Connection closed: ${code} ${reason || '(no reason)'}${willReconnect ? ', will reconnect' : ''}`);
    }),
    client.on('open', ({ transport, resumed }) => {
      if (resumed) $('session').textContent = `· session resumed ${++resumes}×`;
      log(
        'open',
        `Open via ${transport}: ${resumed ? 'session resumed; the server replays what we missed' : 'new session'}`,
      );
      // A resumed session is still subscribed; a new one is not.
      if (!resumed) client.send({ type: 'subscribe' }).catch(() => {});
    }),
    client.on('transport', ({ from, to }) => {
      $('transport').textContent = to;
      if (from) log('transport', `Transport ${from} → ${to}`);
    }),
    client.on('error', (err) => log('error', `${err.code}: ${err.message}`)),
    client.on('message', onMessage),
  ];
  client.connect();
}

function onMessage(msg) {
  if (msg?.type === 'subscribed') ticks.expected = msg.next;
  else if (msg?.type === 'tick') onTick(msg);
  else if (msg?.type === 'pong') samples.push({ at: Date.now(), rtt: performance.now() - msg.t });
}

function onTick(t) {
  // Tick numbers are consecutive within a session: a gap would be a lost message.
  if (ticks.expected && t.n > ticks.expected) ticks.missing += t.n - ticks.expected;
  ticks.expected = t.n + 1;
  ticks.count++;
  // Live ticks arrive within a few ms; older ones waited in the session's replay buffer.
  if (Date.now() - t.at > 400) ticks.late++;
  const prev = ticks.last;
  ticks.last = t;
  $('price').textContent = t.price.toFixed(2);
  $('price').className = `price ${prev && t.price < prev.price ? 'down' : 'up'}`;
  $('ticks').textContent = ticks.count;
  $('missing').textContent = ticks.missing;
  $('late').textContent = ticks.late;
  const li = document.createElement('li');
  li.textContent = `#${t.n}  ${t.price.toFixed(2)}  ${clock(t.at)}`;
  $('recent').prepend(li);
  while ($('recent').children.length > 6) $('recent').lastChild.remove();
}

function showState(state) {
  $('state').textContent = state;
  $('state').className = `big-state state-${state}`;
}

function log(kind, text) {
  const li = document.createElement('li');
  li.className = `ev-${kind}`;
  const when = document.createElement('time');
  when.textContent = clock(Date.now());
  li.append(when, ' ', text);
  $('timeline').prepend(li);
  while ($('timeline').children.length > 200) $('timeline').lastChild.remove();
}

// Pings only while open: queued pings would measure the outage, not the network.
setInterval(() => {
  if (client.state === 'open') client.send({ type: 'ping', t: performance.now() }).catch(() => {});
  draw();
}, 1000);

function draw() {
  const canvas = $('chart');
  const dpr = devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  canvas.width = w * dpr;
  canvas.height = h * dpr;
  const g = canvas.getContext('2d');
  g.scale(dpr, dpr);
  const now = Date.now();
  while (samples.length && samples[0].at < now - WINDOW_MS) samples.shift();
  while (losses.length && losses[0] < now - WINDOW_MS) losses.shift();

  const max = Math.max(5, ...samples.map((s) => s.rtt)) * 1.2;
  const x = (at) => ((at - (now - WINDOW_MS)) / WINDOW_MS) * w;
  const y = (ms) => h - 16 - (ms / max) * (h - 24);

  g.font = '11px system-ui, sans-serif';
  g.fillStyle = '#888';
  g.strokeStyle = '#e5e5e5';
  for (const ms of gridLines(max)) {
    g.beginPath();
    g.moveTo(0, y(ms));
    g.lineTo(w, y(ms));
    g.stroke();
    g.fillText(`${ms} ms`, 4, y(ms) - 3);
  }
  g.fillText('−60 s', 4, h - 3);
  g.fillText('now', w - 24, h - 3);

  g.strokeStyle = '#d33';
  for (const at of losses) {
    g.beginPath();
    g.moveTo(x(at), 0);
    g.lineTo(x(at), h - 16);
    g.stroke();
  }

  g.strokeStyle = '#2563eb';
  g.lineWidth = 2;
  g.beginPath();
  samples.forEach((s, i) => (i ? g.lineTo(x(s.at), y(s.rtt)) : g.moveTo(x(s.at), y(s.rtt))));
  g.stroke();

  if (samples.length) {
    const rtts = samples.map((s) => s.rtt);
    const avg = rtts.reduce((a, b) => a + b, 0) / rtts.length;
    $('rtt').textContent =
      `last ${rtts.at(-1).toFixed(1)} ms · avg ${avg.toFixed(1)} · max ${Math.max(...rtts).toFixed(1)}`;
  }
}

/** Three or four round values under `max`. */
function gridLines(max) {
  const step = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000].find((s) => max / s <= 4) ?? 10000;
  const lines = [];
  for (let v = step; v < max; v += step) lines.push(v);
  return lines;
}
