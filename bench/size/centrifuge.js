import { Centrifuge } from 'centrifuge';
globalThis.client = new Centrifuge('ws://localhost:8000/connection/websocket');
