// Our WebSocket-only build: the core entry with one transport passed in.
import { RealtimeClient, websocket } from 'realtime-client/core';
globalThis.client = new RealtimeClient('/realtime', { transports: [websocket()] });
