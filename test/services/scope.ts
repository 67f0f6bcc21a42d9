// One line per test file for the services it uses: everything started through the scope is
// stopped by pid (and its temp dir removed) after each test, or after the file, even when the
// test failed.
//
//   const services = serviceScope({ needs: ['redis', 'nginx'] });
//   it('...', async () => {
//     const redis = await services.redis({ persistence: 'aof' });
//     const nodes = await services.nodes(script, 3, { env: { REDIS_URL: redis.url } });
//     const lb = await services.nginx({ backends: nodes.map((n) => n.port) });
//   });
import { afterAll, afterEach, beforeAll } from 'vitest';
import { ensureServices, INSTALL_TIMEOUT_MS, type ServiceName } from './install';
import { startNginx, type Nginx, type NginxOptions } from './nginx';
import { startNodeProcess, startNodeProcesses, type NodeProcess, type NodeProcessOptions } from './node-processes';
import { startRedis, type RedisOptions, type RedisServer } from './redis';
import { startRedisCluster, type RedisCluster, type RedisClusterOptions } from './redis-cluster';

export interface ServiceScopeOptions {
  /**
   * 'test' (default): what a test started is stopped after it. 'file': after the file's last test
   * (for services started in beforeAll and shared by the file's tests).
   */
  lifetime?: 'test' | 'file';
  /**
   * Services whose binaries are checked (and installed with apt-get, if missing and root) before
   * the file's tests, in a hook long enough for apt-get; without it a first install would run
   * inside a test and its timeout.
   */
  needs?: ServiceName[];
}

export function serviceScope(options: ServiceScopeOptions = {}) {
  /** What to undo, in order of creation; each may return a promise. */
  const owned: Array<() => unknown> = [];
  if (options.needs?.length) beforeAll(() => ensureServices(...options.needs!), INSTALL_TIMEOUT_MS);
  const cleanup = async () => {
    // All at once (they are separate processes); every one is stopped even if another's stop fails.
    const results = await Promise.allSettled(
      owned
        .splice(0)
        .reverse()
        .map((stop) => stop()),
    );
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  };
  (options.lifetime === 'file' ? afterAll : afterEach)(cleanup, 30_000);

  async function track<T extends { destroy(): Promise<void> }>(started: Promise<T>): Promise<T> {
    const service = await started;
    owned.push(() => service.destroy());
    return service;
  }

  return {
    redis: (o?: RedisOptions): Promise<RedisServer> => track(startRedis(o)),
    redisCluster: (o?: RedisClusterOptions): Promise<RedisCluster> => track(startRedisCluster(o)),
    nginx: (o: NginxOptions): Promise<Nginx> => track(startNginx(o)),
    node: (script: string, o?: NodeProcessOptions & { index?: number; name?: string }): Promise<NodeProcess> =>
      track(startNodeProcess(script, o)),
    async nodes(script: string, count: number, o?: NodeProcessOptions): Promise<NodeProcess[]> {
      const nodes = await startNodeProcesses(script, count, o);
      for (const n of nodes) owned.push(() => n.destroy());
      return nodes;
    },
    /** Anything else to undo with the scope's services. */
    defer: (fn: () => unknown) => void owned.push(fn),
  };
}
