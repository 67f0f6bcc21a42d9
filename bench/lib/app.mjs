// The application every bench server runs, whatever the library under it (bench/server.mjs,
// bench/cluster/node.mjs): one tiny protocol of JSON messages, so the same client code drives
// ours, socket.io and the native baselines.
//   {ctl:'push', n, size}  the server sends n messages {i, p} of `size` bytes of JSON, in a loop, at once
//   {ctl:'up', n}          the server counts the next n messages {i, p} and answers {done: n}
//   {echo, p}              sent back as is
//   {ctl:'drop'}           the server drops the connection abruptly (where the endpoint can: api.drop)
//   {ctl:'where'}          the server answers {where: name} (where it has a name: api.name)
//   {ctl:'tick', ms, n}    the server sends {tick: i} every `ms` ms, n times (a steady stream)

/** One padding string per size, so each message {i, p} serialises to `size` bytes (for 5-digit i). */
const pads = new Map();
const pad = (size) => {
  if (!pads.has(size)) pads.set(size, 'x'.repeat(Math.max(0, size - JSON.stringify({ i: 10000, p: '' }).length)));
  return pads.get(size);
};

/**
 * The application for one connection. `api.send(obj)` sends one message the way an application
 * using that library would (serialising it there); `api.drop()`, if given, cuts the connection;
 * `api.name`, if given, names this server process.
 */
export function benchApp(api) {
  let expect = 0;
  let got = 0;
  return (m) => {
    if (!m || typeof m !== 'object') return;
    if (m.ctl === 'push') {
      const p = pad(m.size);
      for (let i = 0; i < m.n; i++) api.send({ i, p });
    } else if (m.ctl === 'up') {
      expect = m.n;
      got = 0;
    } else if (m.ctl === 'drop' && api.drop) {
      api.drop();
    } else if (m.ctl === 'tick') {
      let i = 0;
      const timer = setInterval(() => {
        api.send({ tick: i++ });
        if (i >= m.n) clearInterval(timer);
      }, m.ms);
    } else if (m.ctl === 'where' && api.name) {
      api.send({ where: api.name });
    } else if (m.echo !== undefined) {
      api.send(m);
    } else if (m.i !== undefined && expect) {
      if (++got === expect) {
        expect = 0;
        api.send({ done: got });
      }
    }
  };
}
