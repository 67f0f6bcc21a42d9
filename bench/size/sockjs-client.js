import SockJS from 'sockjs-client';
globalThis.client = new SockJS('/sockjs');
