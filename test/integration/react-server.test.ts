// @vitest-environment node
// realtime-client/react rendered on a server (react-dom/server, no document): the hook makes its
// client without connecting it, for a relative URL too (there is no page to resolve it against),
// and renders state 'closed'. The browser half is test/integration/react.test.ts.
import { createElement } from 'react';
import { renderToString } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { useRealtime, type UseRealtime } from '../../src/react';

function renderOnServer(url: string): { html: string; rt: UseRealtime } {
  let rt: UseRealtime | undefined;
  function App() {
    rt = useRealtime(url);
    return createElement('p', null, rt.state);
  }
  const html = renderToString(createElement(App));
  return { html, rt: rt! };
}

describe('realtime-client/react on a server', () => {
  it('renders state closed and never connects, for a relative and an absolute URL', () => {
    expect(typeof document, 'no document here').toBe('undefined');
    for (const url of ['/realtime', 'wss://example.com/realtime']) {
      const { html, rt } = renderOnServer(url);
      expect(html).toBe('<p>closed</p>');
      // connect() would have moved it to 'connecting' at once.
      expect(rt.client.state, url).toBe('closed');
      expect(rt.client.url).toBe(url);
    }
  });
});
