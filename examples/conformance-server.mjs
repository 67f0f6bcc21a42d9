// The application contract of docs/conformance.md on the reference server: run it, then
//   npx realtime-client-conformance http://127.0.0.1:8080/realtime
import { createServer } from 'node:http';

/** Echo every message; {"cmd":"push"} and {"cmd":"close"} are requests, not messages to echo. */
export function conformanceApp(rt) {
  rt.on('connection', (session) => {
    session.on('message', (data) => {
      const cmd = data !== null && typeof data === 'object' && !Array.isArray(data) ? data.cmd : undefined;
      if (cmd === 'push') {
        const pad = 'x'.repeat(Number(data.bytes) || 0);
        // One turn of the event loop: the messages may leave as one frame (§9).
        for (let i = 1; i <= Number(data.n); i++) session.send(data.bytes ? { push: i, pad } : { push: i });
      } else if (cmd === 'close') {
        session.close(data.code, data.reason ?? '');
      } else {
        session.send({ echo: data });
      }
    });
  });
  // A push too large for the client's max throws in send(): report it, keep serving.
  rt.on('error', (err) => console.error('conformance app:', err.message));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { RealtimeServer } = await import('realtime-client/server');
  const http = createServer((_req, res) => res.writeHead(404).end());
  conformanceApp(new RealtimeServer({ server: http, path: '/realtime' }));
  http.listen(Number(process.env.PORT ?? 8080), '127.0.0.1', () => {
    console.log(`conformance app on http://127.0.0.1:${http.address().port}/realtime`);
  });
}
