/**
 * Inbound sequence bookkeeping. `received` is the highest sequence number received without a
 * gap: the cumulative ack this side owes the peer.
 */

/** Unacknowledged messages after which an ack goes out at once instead of after the delay. */
export const ACK_EVERY = 128;

/**
 * For a msg frame whose first sequence number is `s`, how many leading entries are duplicates
 * already delivered, or -1 when the frame starts past `received + 1` (a gap: something was lost).
 */
export function duplicatesIn(received: number, s: number, count: number): number {
  if (s > received + 1) return -1;
  return Math.min(count, received + 1 - s);
}

/** Whether the ack owed can no longer wait for traffic to carry it. */
export const ackIsUrgent = (received: number, acked: number): boolean => received - acked >= ACK_EVERY;
