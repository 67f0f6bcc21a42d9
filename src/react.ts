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

/**
 * useLayoutEffect in a document; useEffect elsewhere (server rendering), where React 18 warns
 * about layout effects and neither runs.
 */
const useConnectEffect = typeof document === 'undefined' ? useEffect : useLayoutEffect;

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
 */
export function useRealtime(url: string, options?: UseRealtimeOptions): UseRealtime {
  const make = (): Owned => ({ url, client: new RealtimeClient(url, { ...options, autoConnect: false }) });
  let [owned, setOwned] = useState(make);
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
