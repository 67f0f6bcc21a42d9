// For the scripts that test/services/node-processes.ts starts: tells the harness that `server`
// (a node:http or node:net server) listens, with the port it got. Written synchronously so that
// the line is out even if the process is SIGKILLed right after.
import { writeSync } from 'node:fs';

/** Prints {"ev":"listening","port":N} (with `extra` fields) on stdout. */
export function reportListening(server, extra = {}) {
  writeSync(1, `${JSON.stringify({ ev: 'listening', port: server.address().port, ...extra })}\n`);
}

/** Prints one event line on stdout, which the harness keeps in the node's `events`. */
export function report(event) {
  writeSync(1, `${JSON.stringify(event)}\n`);
}

/** The port to listen on: PORT from the harness (0 on a first start, for any free port). */
export const port = Number(process.env.PORT ?? 0);
