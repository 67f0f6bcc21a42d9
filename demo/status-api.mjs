// GET /api/status: the JSON endpoint of the "migrating from polling" page.
//
//   no `since`            answers at once: 200, or 304 when If-None-Match matches (classic polling)
//   ?since=<cursor>       long-poll: answers at once if the status moved past <cursor>, else holds
//                         the request until it does (200) or HOLD_MS pass (304 if the ETag matches)
//
// Each body carries `cursor`, so a client can pass it back as `since`.

const HOLD_MS = 25_000;

export function createStatusApi() {
  let cursor = 1;
  let orderNo = 124;
  let status = { waiting: 3, packing: 1, shipped: 120, last: 'An order shipped' };
  let updatedAt = Date.now();
  const waiting = new Set();
  const etag = () => `"c${cursor}"`;
  const body = () => JSON.stringify({ cursor, updatedAt, ...status });

  // Orders move at irregular intervals, as real data does: most polls find nothing new.
  let timer;
  (function tick() {
    timer = setTimeout(
      () => {
        step();
        tick();
      },
      2000 + Math.random() * 8000,
    );
  })();

  function step() {
    const s = { ...status };
    const roll = Math.random();
    if (roll < 0.3 && s.waiting) {
      s.waiting--;
      s.packing++;
      s.last = `${s.packing} order${s.packing === 1 ? '' : 's'} being packed`;
    } else if (roll < 0.6 && s.packing) {
      s.packing--;
      s.shipped++;
      s.last = 'An order shipped';
    } else {
      s.waiting++;
      s.last = `Order #${++orderNo} received`;
    }
    status = s;
    cursor++;
    updatedAt = Date.now();
    for (const w of [...waiting]) w.wake();
  }

  function reply(req, res) {
    const fresh = req.headers['if-none-match'] === etag();
    const text = fresh ? '' : body();
    res.writeHead(fresh ? 304 : 200, {
      'Content-Type': 'application/json; charset=utf-8',
      'Cache-Control': 'no-cache',
      ETag: etag(),
      ...(fresh ? {} : { 'Content-Length': Buffer.byteLength(text) }),
    });
    res.end(req.method === 'HEAD' ? '' : text);
  }

  function handle(req, res, url) {
    const since = url.searchParams.get('since');
    if (since === null || !(Number(since) >= cursor)) return reply(req, res);
    const w = {
      wake() {
        waiting.delete(w);
        clearTimeout(w.timer);
        if (!res.writableEnded) reply(req, res);
      },
      timer: setTimeout(() => w.wake(), HOLD_MS),
    };
    waiting.add(w);
    res.on('close', () => {
      waiting.delete(w);
      clearTimeout(w.timer);
    });
  }

  function close() {
    clearTimeout(timer);
    for (const w of [...waiting]) w.wake();
  }

  return { handle, close };
}
