// realtime-client/react: one hook that owns a RealtimeClient for a component's lifetime.
// Built as an entry of its own that imports the client from ./index (see rollup.config.mjs), so
// its few bytes stay out of every other entry and the app shares one copy of the client.
import { useEffect, useLayoutEffect, useState, useSyncExternalStore } from 'react';
import { RealtimeClient, type ClientOptions, type ConnectionState } from './index';

/**
 * Options of {@link useRealtime}: those of `new RealtimeClient(url, options)`, read once per URL
 * (a new URL makes a new client; other changes to the object are not seen). There is no
 * `autoConnect`: the hook connects while the component is mounted.
 */
export type UseRealtimeOptions = Omit<ClientOptions, 'autoConnect'>;

export interface UseRealtime {
  /** The component's client: call `send`, `on` and `close` on it. The same object on every render for the same URL. */
  client: RealtimeClient;
  /** `client.state`, re-rendering the component when it changes. */
  state: ConnectionState;
}

/** No document: rendering on a server, where effects never run. */
const onServer = typeof document === 'undefined';

/** useLayoutEffect in a document; useEffect on a server, where React 18 warns about layout effects. */
const useConnectEffect = onServer ? useEffect : useLayoutEffect;

/**
 * On a server a relative URL has no page to resolve against, and the constructor would refuse it.
 * The client made there is never connected (effects do not run there, and hydration makes a new
 * one in the browser), so it gets this base; the .invalid name says where it came from should a
 * document-less host ever run the effects.
 */
const SERVER_BASE = 'http://server-render.invalid/';

interface Owned {
  url: string;
  client: RealtimeClient;
  /** A close that cleanup asked for and a remount may still cancel. */
  closing?: boolean;
}

/**
 * A client connected while the component is mounted and closed when it unmounts, with its state.
 *
 *   const { client, state } = useRealtime('/realtime', { transports: ['websocket', 'long-poll'] });
 *   useEffect(() => client.on('message', show), [client]);
 *
 * It connects in a layout effect, which runs before any component's effect: children can send
 * from their effects on mount (a send on a closed client is refused; once connecting, it waits).
 *
 * Under StrictMode React builds the state twice and runs the effect, its cleanup and the effect
 * again: the client is made without connecting (a discarded one never opens anything), and
 * cleanup's close waits a microtask, which the immediate re-run cancels, so one connection opens.
 *
 * Rendered on a server, it makes the client (a relative URL too) and returns state 'closed'; the
 * client connects in the browser.
 */
export function useRealtime(url: string, options?: UseRealtimeOptions): UseRealtime {
  const make = (): Owned => {
    const env = onServer && !options?.env?.baseUrl ? { ...options?.env, baseUrl: SERVER_BASE } : options?.env;
    return { url, client: new RealtimeClient(url, { ...options, env, autoConnect: false }) };
  };
  const [first, setOwned] = useState(make);
  let owned = first;
  if (owned.url !== url) {
    // A new URL: a new client, set during render as React recommends for derived state; the old
    // one is closed by its effect's cleanup.
    owned = make();
    setOwned(owned);
  }
  const { client } = owned;

  useConnectEffect(() => {
    owned.closing = false;
    client.connect(); // does nothing while the client is connecting or open
    return () => {
      owned.closing = true;
      queueMicrotask(() => {
        if (owned.closing) client.close();
      });
    };
  }, [owned, client]);

  const state = useSyncExternalStore(
    (changed) => client.on('state', changed),
    () => client.state,
    () => client.state,
  );
  return { client, state };
}
