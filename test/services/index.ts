// Real services for multi-node tests (redis-server, a Redis Cluster, nginx as a load balancer,
// node processes): each started on its own free port with its own config in a temp dir, stopped by
// pid. Start with serviceScope() (scope.ts); each module's head comment shows its API.
export { ensureBinary, ensureServices, INSTALL_TIMEOUT_MS, type ServiceName } from './install';
export { freePort, freePorts, withFreePorts, PortInUseError, HOST } from './ports';
export { ManagedProcess, pidGone, descendants } from './process';
export { redisCommand, redisInfo, parseInfo, RespError, type RespValue } from './resp';
export { startRedis, launchRedis, RedisServer, type RedisOptions } from './redis';
export { startRedisCluster, RedisCluster, type RedisClusterOptions } from './redis-cluster';
export {
  startNginx,
  launchNginx,
  proxySite,
  Nginx,
  type NginxOptions,
  type ProxySiteOptions,
  type AccessEntry,
} from './nginx';
export {
  startNodeProcess,
  startNodeProcesses,
  NodeProcess,
  type NodeProcessOptions,
  type NodeEvent,
} from './node-processes';
export { serviceScope, type ServiceScopeOptions } from './scope';
