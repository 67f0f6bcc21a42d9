// Live dashboard feed: a random-walk price every 200 ms to every session that subscribed, and
// an echo for the page's round-trip pings. Ticks are numbered so the page can prove that a
// dropped connection lost nothing: the session buffers them and replays them on resume.

const TICK_MS = 200;

export function attachDashboard(rt) {
  const subscribers = new Set();
  let n = 0;
  let price = 100;

  const timer = setInterval(() => {
    if (!subscribers.size) return;
    price = Math.max(1, price * (1 + (Math.random() - 0.5) * 0.004));
    rt.broadcast({ type: 'tick', n: ++n, price: Math.round(price * 100) / 100, at: Date.now() }, (s) =>
      subscribers.has(s),
    );
  }, TICK_MS);
  timer.unref();

  rt.on('connection', (session) => {
    session.on('message', (msg) => {
      if (msg?.type === 'subscribe') {
        subscribers.add(session);
        // The next tick's number: the page counts from here.
        session.send({ type: 'subscribed', next: n + 1 });
      } else if (msg?.type === 'ping') session.send({ type: 'pong', t: msg.t });
    });
    session.on('close', () => subscribers.delete(session));
  });
}
