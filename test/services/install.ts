// The real services the tests start come from Debian packages. A missing binary is installed with
// apt-get when we are root on a Linux box that has it (CI's fresh machines, a developer's
// container); anywhere else it is a failure that says what to install. Never a skip.
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

// Root's PATH has the sbin directories, a developer's often not, and nginx lives in /usr/sbin.
const EXTRA_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Absolute path of `command` on PATH or in the usual bin/sbin directories, or undefined. */
export function findOnPath(command: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const dir of dirs) {
    const path = join(dir, command);
    if (isExecutable(path)) return path;
  }
  return undefined;
}

/** True where `apt-get install` can run without asking anyone: Linux, root, apt-get present. */
export function canAptInstall(): boolean {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  return process.platform === 'linux' && isRoot && findOnPath('apt-get') !== undefined;
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`})`)),
    );
  });
}

// Test files run in parallel worker processes and may each want a package: wait for (instead of
// failing on) the dpkg and lists locks another apt-get holds.
const LOCK_WAIT = ['-o', 'DPkg::Lock::Timeout=600'];
let updated: Promise<void> | undefined;

/** `apt-get update` (once per process) then `apt-get install -y packages`. Caller checks canAptInstall(). */
export async function aptInstall(packages: string[], who = 'tests'): Promise<void> {
  console.log(`[${who}] running \`apt-get update && apt-get install -y ${packages.join(' ')}\` ...`);
  updated ??= run('apt-get', [...LOCK_WAIT, 'update']);
  updated.catch(() => (updated = undefined));
  await updated;
  await run('apt-get', [...LOCK_WAIT, 'install', '-y', ...packages]);
}

/** How long a hook that may run apt-get should be given (vitest's default hook timeout is 10 s). */
export const INSTALL_TIMEOUT_MS = 300_000;

const pending = new Map<string, Promise<string>>();

/**
 * Absolute path of `name`, installing `debianPackage` with apt-get first when the binary is
 * missing and canAptInstall(); otherwise a missing binary throws an error saying what to install
 * (`help` replaces the default advice).
 */
export function ensureBinary(name: string, debianPackage: string, help?: string): Promise<string> {
  let found = pending.get(name);
  if (!found) {
    found = locate(name, debianPackage, help);
    pending.set(name, found);
    // Don't cache a failure: a later call may succeed (e.g. after an install finished elsewhere).
    found.catch(() => pending.delete(name));
  }
  return found;
}

async function locate(name: string, debianPackage: string, help?: string): Promise<string> {
  const advice =
    help ??
    `The tests need \`${name}\` from the Debian package ${debianPackage}, and it is not installed. ` +
      `Install it (Debian/Ubuntu: \`sudo apt-get install -y ${debianPackage}\`), or run the tests as root on a ` +
      `machine with apt-get, where they install it themselves.`;
  const existing = findOnPath(name);
  if (existing) return existing;
  if (!canAptInstall()) throw new Error(advice);
  await aptInstall([debianPackage], name);
  const installed = findOnPath(name);
  if (installed) return installed;
  throw new Error(`apt-get install ${debianPackage} finished but \`${name}\` is still not found. ${advice}`);
}

/** The binaries of each service, with their Debian packages. */
export const SERVICE_BINARIES = {
  redis: [
    ['redis-server', 'redis-server'],
    ['redis-cli', 'redis-tools'],
  ],
  nginx: [['nginx', 'nginx-light']],
} as const satisfies Record<string, ReadonlyArray<readonly [string, string]>>;

export type ServiceName = keyof typeof SERVICE_BINARIES;

/** Makes sure every binary of `services` is there (installing as ensureBinary does). */
export async function ensureServices(...services: ServiceName[]): Promise<void> {
  // Sequential: one apt-get at a time in this process.
  for (const service of services) for (const [name, pkg] of SERVICE_BINARIES[service]) await ensureBinary(name, pkg);
}
