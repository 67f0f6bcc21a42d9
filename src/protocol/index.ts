/**
 * What the client and the reference server share: the frame codec, close codes and the retry
 * rule, sequence and ack rules, frame packing. docs/protocol.md is the normative description.
 */
export * from './codec';
export * from './close';
export * from './seq';
export * from './pack';
