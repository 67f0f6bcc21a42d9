import { io } from 'socket.io-client';
globalThis.client = io('/');
