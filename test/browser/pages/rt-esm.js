// Entry of rt-esm.html: the npm ESM build straight from dist/; its bare "eventsource-parser"
// import is resolved by the page's import map.
import * as Realtime from '/dist/index.js';

window.T.init(Realtime);
