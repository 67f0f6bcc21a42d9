import { Socket } from 'phoenix';
globalThis.client = new Socket('/socket');
