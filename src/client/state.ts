export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** What happened: the user asked to connect, the session opened, the connection dropped and will be retried, or it ended. */
export type StateEvent = 'connect' | 'opened' | 'dropped' | 'ended';

/** The transition table. Returns the next state, or the same state when the event changes nothing. */
export function nextState(from: ConnectionState, event: StateEvent): ConnectionState {
  switch (event) {
    case 'connect':
      return from === 'closed' ? 'connecting' : from;
    case 'opened':
      return from === 'closed' ? from : 'open';
    case 'dropped':
      return from === 'closed' ? from : 'reconnecting';
    case 'ended':
      return 'closed';
  }
}
