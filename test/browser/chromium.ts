// Finds (or, on a root Linux box with apt, installs) a Chromium for the browser tests.
// The browser tests never skip: no browser is a failure with instructions.
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

const CANDIDATES = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
];

const INSTALL_HELP =
  'No Chromium/Chrome found for the browser tests. Either install one ' +
  '(Debian/Ubuntu: `sudo apt-get install -y chromium`; Fedora: `sudo dnf install chromium`; ' +
  'macOS: install Google Chrome) or set CHROMIUM_PATH (or CHROME_PATH) to the browser executable, ' +
  `e.g. CHROMIUM_PATH="/Applications/Google Chrome.app/Contents/MacOS/Google Chrome". Looked in: ${CANDIDATES.join(', ')}.`;

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir && isExecutable(join(dir, command)));
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

let pending: Promise<string> | undefined;

/** Path of a Chromium/Chrome executable; see the file comment for the search order. */
export function findChromium(): Promise<string> {
  pending ??= locate();
  // Don't cache a failure: a later call may succeed (e.g. after an install finished elsewhere).
  pending.catch(() => (pending = undefined));
  return pending;
}

async function locate(): Promise<string> {
  for (const name of ['CHROMIUM_PATH', 'CHROME_PATH'] as const) {
    const value = process.env[name];
    if (!value) continue;
    if (isExecutable(value)) return value;
    throw new Error(`${name} is set to "${value}", which is not an executable file. Fix or unset it.`);
  }
  for (const path of CANDIDATES) if (isExecutable(path)) return path;

  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (process.platform === 'linux' && isRoot && onPath('apt-get')) {
    console.log('[browser tests] No Chromium found: running `apt-get update && apt-get install -y chromium` ...');
    // Wait for (instead of failing on) a dpkg lock held by another apt run.
    const lock = ['-o', 'DPkg::Lock::Timeout=600'];
    await run('apt-get', [...lock, 'update']);
    await run('apt-get', [...lock, 'install', '-y', 'chromium']);
    if (isExecutable('/usr/bin/chromium')) {
      console.log('[browser tests] Installed /usr/bin/chromium');
      return '/usr/bin/chromium';
    }
    throw new Error(`apt-get install chromium finished but /usr/bin/chromium is missing. ${INSTALL_HELP}`);
  }
  throw new Error(INSTALL_HELP);
}

export interface LaunchOptions {
  /**
   * Keep Chromium's back/forward cache on. Playwright turns it off by default
   * (--disable-back-forward-cache); pagehide/pageshow tests need it as users have it.
   */
  backForwardCache?: boolean;
}

/**
 * Flags for every Chromium we start (tests and benchmarks): as root it needs --no-sandbox, and
 * this machine's closed network refuses the background connections the others turn off.
 */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
] as const;

/** A fresh headless Chromium (Playwright gives each launch a new temporary profile). */
export async function launchBrowser(options: LaunchOptions = {}): Promise<Browser> {
  const executablePath = await findChromium();
  return chromium.launch({
    executablePath,
    headless: true,
    ...(options.backForwardCache ? { ignoreDefaultArgs: ['--disable-back-forward-cache'] } : {}),
    args: [...CHROMIUM_ARGS],
  });
}
