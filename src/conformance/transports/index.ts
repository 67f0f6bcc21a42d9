import { fetchStream, sse } from './stream';
import { longPoll } from './long-poll';
import type { TransportDriver } from './types';
import { websocket } from './websocket';

/** Every transport of protocol v1, in the order the kit runs them. */
export const TRANSPORTS: readonly TransportDriver[] = [websocket, sse, fetchStream, longPoll];

export type { TransportDriver };
