/**
 * Deliberate faults for the conformance kit's mutation checks (test/integration/conformance-kit.test.ts):
 * each switch breaks one rule of docs/protocol.md, so the tests can show that the kit fails a
 * server with that bug, naming the case that checks the rule. Test-only: never re-exported from
 * index.ts, never an option, never read from the environment; all false in every real run.
 */
export const faults = {
  /** §6: deliver every entry of a msg frame, even those already received (no dedupe of resends). */
  noDedupe: false,
  /** §5: after a resume, replay from hello.a + 2 instead of hello.a + 1 (one message skipped). */
  replayPastAck: false,
  /** §7: acknowledge one message more than was delivered. */
  ackAhead: false,
  /** §5: resume a session whatever key the hello carries. */
  noKeyCheck: false,
  /** §12: allow every Origin, whatever allowedOrigins says. */
  ignoreOrigin: false,
};
