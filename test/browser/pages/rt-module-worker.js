// Entry of the module worker in workers.test.ts, bundled by esbuild (format esm) from the npm ESM
// build, as an app's bundler would: the build imports `eventsource-parser` by name, which the
// worker alone cannot resolve. rt-page.js records into self.T.
import * as Realtime from 'realtime-client';
import './rt-page.js';

self.T.init(Realtime);
