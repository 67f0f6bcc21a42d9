/**
 * Sessions in Redis, for the reference server on several processes behind any load balancer,
 * none sticky (README, "Running several nodes"; docs/protocol.md, "Server clusters"):
 *
 * ```ts
 * import { RealtimeServer } from 'realtime-client/server';
 * import { redisCluster } from 'realtime-client/server/redis';
 * const rt = new RealtimeServer({ server: httpServer, cluster: redisCluster({ url: 'redis://127.0.0.1:6379' }) });
 * ```
 *
 * A separate entry point, so that only applications that use it need ioredis (a peer dependency).
 */
export { redisCluster, SessionGone, type RedisClusterOptions } from './server/state/redis';
export type { SessionEngine } from './server/state/types';
