import ReconnectingWebSocket from 'reconnecting-websocket';
globalThis.client = new ReconnectingWebSocket('ws://localhost/ws');
