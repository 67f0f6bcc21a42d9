// Free TCP ports for services that cannot listen on port 0 and tell us which port they got
// (redis-server, nginx). A port found free may be taken before the service binds it (other test
// files run in parallel processes), so starting a service goes through withFreePorts(), which
// retries with new ports when the service reports "address already in use".
import { createServer } from 'node:net';

export const HOST = '127.0.0.1';

/** Thrown by a service start that failed because its port was taken. */
export class PortInUseError extends Error {
  constructor(
    readonly port: number,
    detail: string,
  ) {
    super(`port ${port} is already in use: ${detail}`);
    this.name = 'PortInUseError';
  }
}

// Every port this process handed out, never forgotten: the kernel may hand the same port to the
// next bind(0) once it is closed, and a stopped service must find its port free for restart().
const handedOut = new Set<number>();

function bindZero(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ port: 0, host: HOST, exclusive: true }, () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** A port that was free on 127.0.0.1 a moment ago and that this process never handed out before. */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const port = await bindZero();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no free port found in 100 tries');
}

/** `count` distinct free ports. */
export async function freePorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < count; i++) ports.push(await freePort());
  return ports;
}

/**
 * Runs `start` with `count` fresh free ports, again with new ones when it throws PortInUseError
 * (up to `tries` times); any other error is thrown at once.
 */
export async function withFreePorts<T>(count: number, start: (ports: number[]) => Promise<T>, tries = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await freePorts(count));
    } catch (err) {
      if (!(err instanceof PortInUseError) || attempt >= tries) throw err;
    }
  }
}
