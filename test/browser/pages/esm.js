// Uses the npm ESM build straight from dist/; its bare "eventsource-parser" import is
// resolved by the page's import map.
import { RealtimeClient } from '/dist/index.js';

window.startEcho(RealtimeClient, 'esm');
