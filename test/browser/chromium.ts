// Finds (or, on a root Linux box with apt, installs) a Chromium for the browser tests:
// CHROMIUM_PATH or CHROME_PATH, else the usual paths, else `apt-get install chromium` as root.
// The browser tests never skip: no browser is a failure with instructions.
import { chromium, type Browser } from 'playwright-core';
import { ensureBinary, isExecutable } from '../services/install';

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
  // Then `chromium` on PATH, or Debian's package installed with apt-get (as root), as for the
  // services of the multi-node tests (test/services/install.ts); else INSTALL_HELP.
  return ensureBinary('chromium', 'chromium', INSTALL_HELP);
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
