// A tiny backend for load-balancer tests, started by node-processes.ts: every answer says which
// node gave it, so a test can count per node from the clients' side.
//   GET /anything     200 {"name","port","pid","url"}
//   GET /sse          an SSE stream: one event {"name"} at once, then held open until the client goes
//   POST /upload      reports {"ev":"upload","bytes"} per chunk of the body as it comes; 200 {"name","bytes"} at its end
//   GET /flood        writes up to 64 MB as fast as the connection takes it; reports
//                     {"ev":"flood","bytes","stalled":true} once a write has waited 300 ms for 'drain'
//                     (backpressure reached us), or {"ev":"flood","bytes","stalled":false} at 64 MB
//   WebSocket upgrade  greets with {"name"}, then echoes each message as {"name","echo"}
// Prints {"ev":"listening","port"} when ready and {"ev":"request","url"} per request.
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';
import { port, report, reportListening } from './listening.mjs';

const name = process.env.NODE_NAME ?? `pid${process.pid}`;

const server = createServer((req, res) => {
  report({ ev: 'request', url: req.url });
  if (req.url === '/upload') {
    let bytes = 0;
    req.on('data', (chunk) => {
      bytes += chunk.length;
      report({ ev: 'upload', bytes });
    });
    req.on('end', () =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ name, bytes })),
    );
    return;
  }
  if (req.url === '/flood') return flood(res);
  if (req.url === '/sse') {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write(`data: ${JSON.stringify({ name })}\n\n`);
    return; // held open: the test checks that the event arrives before the response ends
  }
  res
    .writeHead(200, { 'content-type': 'application/json' })
    .end(JSON.stringify({ name, port: server.address().port, pid: process.pid, url: req.url }));
});

const FLOOD_CAP = 64 << 20;
function flood(res) {
  res.writeHead(200, { 'content-type': 'application/octet-stream' });
  const chunk = Buffer.alloc(64 << 10, 'x');
  let bytes = 0;
  const pump = () => {
    while (bytes < FLOOD_CAP) {
      bytes += chunk.length;
      if (!res.write(chunk)) {
        // A reader that stopped reading never drains us: 300 ms without 'drain' is that.
        const stalled = setTimeout(() => report({ ev: 'flood', bytes, stalled: true }), 300);
        res.once('drain', () => {
          clearTimeout(stalled);
          pump();
        });
        res.once('close', () => clearTimeout(stalled));
        return;
      }
    }
    report({ ev: 'flood', bytes, stalled: false });
    res.end();
  };
  pump();
}

const wss = new WebSocketServer({ server });
wss.on('connection', (socket) => {
  report({ ev: 'ws' });
  socket.send(JSON.stringify({ name }));
  socket.on('message', (data) => socket.send(JSON.stringify({ name, echo: String(data) })));
});

server.listen(port, '127.0.0.1', () => reportListening(server, { name }));
