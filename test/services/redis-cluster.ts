// A local Redis Cluster of its own: N masters (3 by default, the fewest Redis accepts), no
// replicas, each a redis-server of redis.ts in cluster mode with its own cluster-config-file and a
// free bus port, joined with `redis-cli --cluster create`, ready once every node reports
// cluster_state:ok.
//
//   const cluster = await startRedisCluster();
//   cluster.seeds                   // [{ host: '127.0.0.1', port }, ...] for a cluster client
//   await cluster.cli('SET', 'k', 'v');   // redis-cli -c: follows MOVED to the slot's owner
//   await cluster.nodes[1].stop();  // one master down (its slots fail after nodeTimeoutMs)
//   await cluster.nodes[1].start(); await cluster.waitForState('ok');
//   await cluster.destroy();
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ensureBinary } from './install';
import { HOST, withFreePorts } from './ports';
import { launchRedis, type RedisOptions, type RedisServer } from './redis';
import { parseInfo, redisCommand } from './resp';
import { waitFor } from '../wait';

export interface RedisClusterOptions extends RedisOptions {
  /** Number of masters, at least 3 (default 3). */
  masters?: number;
  /**
   * cluster-node-timeout (default 5000 ms, Redis's own is 15000): how long until a stopped master
   * counts as failed; shorter makes "node down" tests quick, too short flaps on a busy machine.
   */
  nodeTimeoutMs?: number;
}

export class RedisCluster {
  constructor(
    readonly nodes: RedisServer[],
    private readonly cliBinary: string,
  ) {}

  /** Where a cluster client starts: every node. */
  get seeds(): Array<{ host: string; port: number }> {
    return this.nodes.map((n) => ({ host: HOST, port: n.port }));
  }

  get urls(): string[] {
    return this.nodes.map((n) => n.url);
  }

  /** `redis-cli -c` (following redirections) against the first running node; resolves with its stdout. */
  async cli(...args: string[]): Promise<string> {
    const node = this.nodes.find((n) => n.running());
    if (!node) throw new Error('no node of the cluster is running');
    const { stdout } = await promisify(execFile)(this.cliBinary, ['-c', '-h', HOST, '-p', String(node.port), ...args]);
    return stdout;
  }

  /** `CLUSTER INFO` of one node, parsed. */
  async info(node: RedisServer): Promise<Record<string, string>> {
    return parseInfo(String(await redisCommand(node.port, ['CLUSTER', 'INFO'])));
  }

  /** Waits until every running node reports cluster_state:`state`. */
  async waitForState(state: 'ok' | 'fail', ms = 15_000): Promise<void> {
    await waitFor(
      async () => {
        const running = this.nodes.filter((n) => n.running());
        const infos = await Promise.all(running.map((n) => this.info(n)));
        return infos.every((i) => i.cluster_state === state);
      },
      { what: `cluster_state:${state} on every running node`, timeout: ms, retryErrors: true },
    );
  }

  /** pids of every node's redis-server now running. */
  pids(): number[] {
    return this.nodes.flatMap((n) => n.process?.pids() ?? []);
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
  }

  /** Stops every node and removes their directories. */
  async destroy(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.destroy()));
  }
}

/** Starts the nodes, creates the cluster and waits for cluster_state:ok; on failure stops what it started. */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const { masters = 3, nodeTimeoutMs = 5_000, ...redisOptions } = options;
  if (masters < 3) throw new Error(`a Redis Cluster needs at least 3 masters, not ${masters}`);
  const cliBinary = await ensureBinary('redis-cli', 'redis-tools');
  const started = await Promise.allSettled(
    Array.from({ length: masters }, () =>
      withFreePorts(2, ([port, busPort]) => launchRedis(port!, redisOptions, { busPort: busPort!, nodeTimeoutMs })),
    ),
  );
  const nodes = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const cluster = new RedisCluster(nodes, cliBinary);
  try {
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    const addresses = nodes.map((n) => `${HOST}:${n.port}`);
    await promisify(execFile)(cliBinary, [
      '--cluster',
      'create',
      ...addresses,
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    // redis-cli returns once the nodes agree on the configuration (it polls once a second, most of
    // the ~2 s a start takes); the state turns ok just after.
    await cluster.waitForState('ok');
    return cluster;
  } catch (err) {
    await cluster.destroy();
    throw err;
  }
}
