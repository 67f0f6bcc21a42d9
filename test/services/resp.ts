// Just enough RESP (the Redis protocol) over node:net to ask a redis-server we started whether it
// is up and whose it is, without a client library: one command per connection.
import { connect } from 'node:net';
import { HOST } from './ports';

export type RespValue = string | number | null | RespValue[];

/** A Redis error reply ("-ERR ...", "-MOVED ..."). */
export class RespError extends Error {
  override name = 'RespError';
}

/** Parses one reply from the start of `buf`: the value and the bytes it used, or undefined if incomplete. */
export function parseReply(buf: Buffer, at = 0): { value: RespValue | RespError; end: number } | undefined {
  const eol = buf.indexOf('\r\n', at);
  if (eol < 0) return undefined;
  const head = buf.toString('utf8', at + 1, eol);
  const next = eol + 2;
  switch (String.fromCharCode(buf[at]!)) {
    case '+':
      return { value: head, end: next };
    case '-':
      return { value: new RespError(head), end: next };
    case ':':
      return { value: Number(head), end: next };
    case '$': {
      const len = Number(head);
      if (len < 0) return { value: null, end: next };
      if (buf.length < next + len + 2) return undefined;
      return { value: buf.toString('utf8', next, next + len), end: next + len + 2 };
    }
    case '*': {
      const count = Number(head);
      if (count < 0) return { value: null, end: next };
      const items: RespValue[] = [];
      let end = next;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buf, end);
        if (!item) return undefined;
        if (item.value instanceof RespError) return item;
        items.push(item.value);
        end = item.end;
      }
      return { value: items, end };
    }
    default:
      throw new Error(`not a RESP reply: ${JSON.stringify(buf.toString('utf8', at, Math.min(buf.length, at + 40)))}`);
  }
}

function encode(args: string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

/** Sends one command to the redis-server on 127.0.0.1:`port`; resolves with its reply, rejects on an error reply. */
export function redisCommand(port: number, args: string[], timeoutMs = 2_000): Promise<RespValue> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const socket = connect({ port, host: HOST });
    const fail = (err: Error) => {
      socket.destroy();
      reject(err);
    };
    socket.setTimeout(timeoutMs, () =>
      fail(new Error(`no reply to ${args[0]} from 127.0.0.1:${port} within ${timeoutMs} ms`)),
    );
    socket.on('error', fail);
    socket.on('connect', () => socket.write(encode(args)));
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      let reply;
      try {
        reply = parseReply(buf);
      } catch (err) {
        return fail(err as Error);
      }
      if (!reply) return;
      socket.destroy();
      if (reply.value instanceof RespError) reject(reply.value);
      else resolve(reply.value);
    });
    socket.on('end', () => fail(new Error(`127.0.0.1:${port} closed the connection before replying to ${args[0]}`)));
  });
}

/** `INFO section` parsed into its fields. */
export async function redisInfo(port: number, section: string): Promise<Record<string, string>> {
  return parseInfo(String(await redisCommand(port, ['INFO', section])));
}

/** "key:value" lines (INFO, CLUSTER INFO) into an object. */
export function parseInfo(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return fields;
}
