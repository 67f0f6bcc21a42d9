import ReconnectingWebSocket from 'partysocket/ws';
globalThis.client = new ReconnectingWebSocket('ws://localhost/ws');
