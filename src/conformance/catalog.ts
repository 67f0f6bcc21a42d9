import { deliveryCases } from './cases/delivery';
import { handshakeCases } from './cases/handshake';
import { httpCases } from './cases/http';
import { inputCases } from './cases/input';
import { lifecycleCases } from './cases/lifecycle';
import { longPollCases } from './cases/long-poll';
import { originCases } from './cases/origin';
import { sessionCases } from './cases/sessions';
import type { Case } from './cases/types';

/** Every case of the kit, in the order they run. Ids are stable: a retired case's id is never reused. */
export const CASES: readonly Case[] = [
  ...handshakeCases,
  ...sessionCases,
  ...deliveryCases,
  ...lifecycleCases,
  ...inputCases,
  ...httpCases,
  ...longPollCases,
  ...originCases,
];

export type { Case };
