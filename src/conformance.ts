/**
 * `realtime-client-conformance <url>`: checks anyone's server against wire protocol v1
 * (docs/conformance.md). Built by rollup to dist/conformance.js, an executable Node script.
 */
import { main } from './conformance/cli';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error('realtime-client-conformance: internal error:', err);
    process.exitCode = 2;
  },
);
