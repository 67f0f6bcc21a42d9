/**
 * Node reference server for realtime wire protocol v1 (see docs/protocol.md).
 *
 * ```ts
 * import { RealtimeServer } from 'realtime-client/server';
 * const rt = new RealtimeServer({ server: httpServer, path: '/realtime', allowedOrigins: ['https://app.example.com'] });
 * rt.on('connection', (session) => {
 *   session.on('message', (data) => session.send({ echo: data }));
 * });
 * ```
 */
export { RealtimeServer, SUPPORTED_VERSIONS, type RealtimeServerEvents } from './server';
export { Session, type SessionEvents } from './session';
export type { Connection } from './link';
export { fileSessionStore, type FileSessionStoreOptions, type SessionStore, type StoredSession } from './store';
export { DEFAULTS, type Authenticate, type RealtimeServerOptions } from './options';
export { CloseCode, PROTOCOL_VERSION, isRetryableClose, type CloseCodeValue, type TransportName } from '../protocol';
