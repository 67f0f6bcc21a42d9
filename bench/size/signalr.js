import { HubConnectionBuilder } from '@microsoft/signalr';
globalThis.client = new HubConnectionBuilder().withUrl('/hub').withAutomaticReconnect().build();
