import { RealtimeError } from './errors';

/**
 * The constructor's checks of what a user wrote, each refusing with an `invalid-argument` error
 * that says what was wrong and what is accepted: a misspelt option or a URL of another scheme
 * would otherwise be silently ignored, or fail much later as a connection that never opens.
 */

/** The URL schemes a client connects with; others (ftp:, or `localhost:` from a URL without `//`) are refused. */
const SCHEMES = ['ws:', 'wss:', 'http:', 'https:'];

/** Refuses a URL that is not one, or not of a scheme this client speaks, saying what is accepted. */
export function checkUrl(url: unknown, base: string | undefined): void {
  // A query string may carry a secret the user should not have put there: never repeat it.
  const shown = typeof url === 'string' ? `'${url.split('?')[0]}'` : String(url);
  const accepted = "ws://, wss://, http:// or https:// URLs, or a path such as '/realtime' in a page";
  let parsed: URL | undefined;
  if (typeof url === 'string') {
    try {
      parsed = new URL(url, base);
    } catch {
      // not a URL, even relative to the page: refused below
    }
  }
  if (!parsed) throw new RealtimeError('invalid-argument', `bad URL ${shown}: the client takes ${accepted}`);
  if (!SCHEMES.includes(parsed.protocol))
    throw new RealtimeError(
      'invalid-argument',
      `bad URL ${shown}: its scheme is ${parsed.protocol}, and the client takes ${accepted}`,
    );
}

/** Refuses an option name that is not one, naming the closest valid one: a misspelt option must not be silently ignored. */
export function checkNames(prefix: string, given: object, valid: readonly string[]): void {
  for (const name of Object.keys(given)) {
    if (valid.includes(name)) continue;
    const closest = closestName(name, valid);
    const hint = closest ? `did you mean ${prefix}${closest}? ` : '';
    throw new RealtimeError(
      'invalid-argument',
      `unknown option ${prefix}${name}: ${hint}(the options${prefix ? ` of ${prefix.slice(0, -1)}` : ''} are ${valid.join(', ')})`,
    );
  }
}

/** The valid name within a few edits of `name` (case ignored), if any. */
function closestName(name: string, valid: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const candidate of valid) {
    const d = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** Levenshtein distance: the fewest insertions, deletions and substitutions from a to b. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = row;
  }
  return previous[b.length]!;
}
