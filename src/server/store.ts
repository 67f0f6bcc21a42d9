import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

/**
 * Everything a session needs to be resumed by another server process (docs/protocol.md §5, §17).
 * Contains the resume `key`: a secret. Never log it.
 */
export interface StoredSession {
  sid: string;
  key: string;
  remoteAddress?: string;
  /** Date.now() after which the session is expired (set while it has no connection). */
  expiresAt?: number;
  /** Highest contiguous client seq delivered to the application. */
  received: number;
  /** Next server seq to assign. */
  nextSeq: number;
  /** Messages sent (or about to be written) and not yet acknowledged by the client, in order: `[seq, json]`. */
  replay: Array<[seq: number, json: string]>;
}

/**
 * Where sessions are kept so they survive a server restart. All three methods are synchronous;
 * `save` must be durable before it returns (the server delivers, acks and writes only after it).
 */
export interface SessionStore {
  /** Called once, in the RealtimeServer constructor: every session to restore. */
  load(): StoredSession[];
  save(session: StoredSession): void;
  remove(sid: string): void;
}

const SID = /^[A-Za-z0-9_-]{1,64}$/;
const isSeq = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

/** @internal Shape check of a stored session, including a contiguous replay buffer ending at nextSeq - 1. */
export function isStoredSession(s: unknown): s is StoredSession {
  if (s === null || typeof s !== 'object') return false;
  const o = s as Record<string, unknown>;
  if (typeof o.sid !== 'string' || !SID.test(o.sid) || typeof o.key !== 'string' || o.key.length === 0) return false;
  if (o.remoteAddress !== undefined && typeof o.remoteAddress !== 'string') return false;
  if (o.expiresAt !== undefined && typeof o.expiresAt !== 'number') return false;
  if (!isSeq(o.received) || !isSeq(o.nextSeq) || o.nextSeq < 1 || !Array.isArray(o.replay)) return false;
  const replay = o.replay as unknown[];
  for (let i = 0; i < replay.length; i++) {
    const e = replay[i];
    if (!Array.isArray(e) || e.length !== 2 || typeof e[1] !== 'string') return false;
    if (e[0] !== o.nextSeq - replay.length + i) return false;
  }
  return true;
}

export interface FileSessionStoreOptions {
  /** fsync each file before renaming it: survives power loss, not only a process crash. Default false. */
  fsync?: boolean;
  /** Where warnings about unreadable files go. Default console.warn. Never given secrets. */
  warn?: (message: string) => void;
}

/**
 * A {@link SessionStore} keeping one JSON file per session, `<dir>/<sid>.json` (mode 0600: it
 * holds the resume key), replaced atomically (temp file + rename). Unreadable or corrupt files
 * are skipped with a warning at load. One server process per directory.
 */
export function fileSessionStore(dir: string, options: FileSessionStoreOptions = {}): SessionStore {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const warn = options.warn ?? ((m: string) => console.warn(`[realtime-server] ${m}`));
  const fsync = options.fsync === true;
  const file = (sid: string): string => {
    if (!SID.test(sid)) throw new TypeError('fileSessionStore: invalid session id');
    return join(dir, `${sid}.json`);
  };
  // Only the error's name/code: a JSON.parse message quotes the file's content, which holds the key.
  const why = (err: unknown): string => String((err as NodeJS.ErrnoException)?.code ?? (err as Error)?.name ?? 'error');
  return {
    load() {
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch (err) {
        warn(`session store: cannot read directory ${dir} (${why(err)})`);
        return [];
      }
      const out: StoredSession[] = [];
      for (const name of names.sort()) {
        const path = join(dir, name);
        if (name.endsWith('.tmp')) {
          // Left over from a save interrupted by a crash: the previous version is still in place.
          try {
            unlinkSync(path);
          } catch {
            // ignore
          }
          continue;
        }
        if (!name.endsWith('.json')) continue;
        let s: unknown;
        try {
          s = JSON.parse(readFileSync(path, 'utf8'));
        } catch (err) {
          warn(`session store: ignoring unreadable or corrupt file ${name} (${why(err)})`);
          continue;
        }
        if (!isStoredSession(s) || `${s.sid}.json` !== name) {
          warn(`session store: ignoring invalid file ${name}`);
          continue;
        }
        out.push(s);
      }
      return out;
    },
    save(s) {
      const path = file(s.sid);
      const tmp = join(dir, `.${s.sid}.json.tmp`);
      const data = JSON.stringify(s);
      if (fsync) {
        const fd = openSync(tmp, 'w', 0o600);
        try {
          writeFileSync(fd, data);
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
      } else {
        writeFileSync(tmp, data, { mode: 0o600 });
      }
      renameSync(tmp, path);
    },
    remove(sid) {
      try {
        unlinkSync(file(sid));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    },
  };
}
