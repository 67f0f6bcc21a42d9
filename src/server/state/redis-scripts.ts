/**
 * The Lua scripts of the Redis engine (redis.ts). Each runs atomically in Redis, on the keys of
 * one session only (they share a hash tag, so one slot: Redis Cluster runs them too).
 *
 * KEYS[1] is the session's record, a hash:
 *   kh     sha256 of the resume key (hex); the key itself is never stored
 *   addr   the client address
 *   out    highest seq assigned        acked  highest seq the client acknowledged
 *   w      highest seq ever written    bytes  JSON bytes held in the replay stream
 *   in     highest client seq delivered to the application and recorded (welcome's `a`)
 *   cl     highest client seq claimed for delivery (>= in; in + what is being delivered)
 *   ep     epoch of the latest link    node   the process holding that link ('' when none)
 *   ov     1 once the replay buffer overran: the session can never resume
 *   clop, clr   the id of the latest claim, and its answer
 *   ap:<node>   the number of the latest append process <node> made to this session
 * KEYS[2] is its replay stream: one entry per message, id `<seq>-0`, fields m (JSON), b (bytes).
 * Wake-ups go to the holding process's channel: 'w <sid> <seq>' (new messages), 'f <sid> <ep>'
 * (a newer link took it), 'o <sid>' (an overrun dropped messages its client never got).
 *
 * A script Redis ran may run again: when the connection drops before its reply arrives, ioredis
 * sends the command again once it has reconnected (autoResendUnfulfilledCommands). Most scripts
 * come to the same state then. Two would not, so they are told apart from a resend of themselves:
 * a claim run twice would take its own messages for duplicates (never delivered, then acked by
 * the next commit: lost), an append run twice would store its messages twice (delivered twice).
 */

/** Shared by the scripts that drop acknowledged messages. */
const TRIM = `
local function trim(rec, out, a)
  local acked = tonumber(redis.call('HGET', rec, 'acked'))
  if a <= acked then return end
  local gone = redis.call('XRANGE', out, '-', a .. '-0')
  local sum = 0
  for _, e in ipairs(gone) do sum = sum + tonumber(e[2][4]) end
  if #gone > 0 then redis.call('XTRIM', out, 'MINID', (a + 1) .. '-0') end
  redis.call('HSET', rec, 'acked', a)
  redis.call('HINCRBY', rec, 'bytes', -sum)
end
`;

/** ARGV: fenced epoch. Returns 'gone' or 'fenced' when the operation may not run, else nil. */
const GUARD = `
local function guard(rec, ep)
  local cur = redis.call('HGET', rec, 'ep')
  if not cur then return 'gone' end
  if tonumber(cur) ~= tonumber(ep) then return 'fenced' end
end
`;

export const SCRIPTS = {
  /** KEYS: rec. ARGV: kh, addr, lease (ms). A new session, no link yet. */
  create: {
    keys: 1,
    lua: `
redis.call('HSET', KEYS[1], 'kh', ARGV[1], 'addr', ARGV[2], 'out', 0, 'acked', 0, 'w', 0, 'in', 0, 'cl', 0, 'ep', 0, 'node', '', 'bytes', 0, 'ov', 0)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`,
  },

  /**
   * KEYS: rec, out. ARGV: clientAck ('' for a new session), limit (largest message JSON the
   * client's frames can hold), node, lease (ms), channel prefix, sid.
   * Returns {'ok', ep, in, out} or {'gone'} / {'bad-ack'} / {'too-large', seq, bytes}.
   * A new link takes the session: claims of the previous holder that were never recorded are
   * void (the client sends those messages again), and the previous holder is told.
   */
  attach: {
    keys: 2,
    lua: `${TRIM}
if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone'} end
if ARGV[1] ~= '' then
  local a = tonumber(ARGV[1])
  local r = redis.call('HMGET', KEYS[1], 'ov', 'acked', 'w')
  if r[1] == '1' then return {'gone'} end
  if a < tonumber(r[2]) or a > tonumber(r[3]) then return {'bad-ack'} end
  local limit = tonumber(ARGV[2])
  for _, e in ipairs(redis.call('XRANGE', KEYS[2], (a + 1) .. '-0', '+')) do
    if tonumber(e[2][4]) > limit then return {'too-large', e[1], e[2][4]} end
  end
  trim(KEYS[1], KEYS[2], a)
end
local ep = redis.call('HINCRBY', KEYS[1], 'ep', 1)
local r = redis.call('HMGET', KEYS[1], 'node', 'in', 'out')
redis.call('HSET', KEYS[1], 'node', ARGV[3], 'cl', r[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
if r[1] ~= '' and r[1] ~= ARGV[3] then redis.call('PUBLISH', ARGV[5] .. r[1], 'f ' .. ARGV[6] .. ' ' .. ep) end
return {'ok', ep, tonumber(r[2]), tonumber(r[3])}`,
  },

  /** KEYS: rec, out. ARGV: ep, ttl (ms). The link is gone: the session waits ttl for a resume. */
  detach: {
    keys: 2,
    lua: `${GUARD}
if guard(KEYS[1], ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'node', '')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1`,
  },

  /** KEYS: rec, out. ARGV: ep, lease (ms). The holder is alive: the session stays at least that long. */
  renew: {
    keys: 2,
    lua: `${GUARD}
if guard(KEYS[1], ARGV[1]) then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1`,
  },

  /** KEYS: rec, out. ARGV: ep. Its time ran out unless a newer link attached: 1 expired (deleted), 0 lives on. */
  expire: {
    keys: 2,
    lua: `${GUARD}
local why = guard(KEYS[1], ARGV[1])
if why == 'fenced' then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
return 1`,
  },

  /**
   * KEYS: rec, out. ARGV: maxMessages, maxBytes, channel prefix, sid, node, op, then json, bytes, ...
   * Returns {'gone'} or {status, last seq, unwritten (0/1), attached (0/1)}, status 'ok' or
   * 'overrun'. An overrun drops the oldest messages; held by no link, the session is deleted (it
   * can never resume); held, and a dropped message never written, its holder is told to end it.
   * `op` numbers the appends of process `node` in the order it sends them, which is the order
   * they run in (one connection; resent ones go first, in order): one numbered at or below the
   * latest that process ran on this session ran already, and is answered with where the session
   * stands (its messages are stored up to that `last`) instead of storing them again.
   */
  append: {
    keys: 2,
    lua: `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone'} end
local r = redis.call('HMGET', KEYS[1], 'out', 'bytes', 'node', 'w', 'ap:' .. ARGV[5], 'ov')
if r[5] and tonumber(ARGV[6]) <= tonumber(r[5]) then
  return {r[6] == '1' and 'overrun' or 'ok', tonumber(r[1]), 0, r[3] ~= '' and 1 or 0}
end
local seq, bytes = tonumber(r[1]), tonumber(r[2])
for i = 7, #ARGV, 2 do
  seq = seq + 1
  redis.call('XADD', KEYS[2], seq .. '-0', 'm', ARGV[i], 'b', ARGV[i + 1])
  bytes = bytes + tonumber(ARGV[i + 1])
end
local maxN, maxB, w = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(r[4])
local len = redis.call('XLEN', KEYS[2])
local overrun, unwritten = false, false
while len > maxN or bytes > maxB do
  local batch = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 100)
  if #batch == 0 then break end
  for _, e in ipairs(batch) do
    if len <= maxN and bytes <= maxB then break end
    redis.call('XDEL', KEYS[2], e[1])
    len = len - 1
    bytes = bytes - tonumber(e[2][4])
    if tonumber(string.match(e[1], '^(%d+)')) > w then unwritten = true end
    overrun = true
  end
end
local attached = r[3] ~= ''
if overrun and not attached then
  redis.call('DEL', KEYS[1], KEYS[2])
  return {'overrun', seq, unwritten and 1 or 0, 0}
end
redis.call('HSET', KEYS[1], 'out', seq, 'bytes', bytes, 'ap:' .. ARGV[5], ARGV[6])
if overrun then redis.call('HSET', KEYS[1], 'ov', 1) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
if attached then
  redis.call('PUBLISH', ARGV[3] .. r[3], 'w ' .. ARGV[4] .. ' ' .. seq)
  if unwritten then redis.call('PUBLISH', ARGV[3] .. r[3], 'o ' .. ARGV[4]) end
end
return {overrun and 'overrun' or 'ok', seq, unwritten and 1 or 0, attached and 1 or 0}`,
  },

  /** KEYS: rec. ARGV: ep, seq. Messages up to seq reached the link of ep. */
  wrote: {
    keys: 1,
    lua: `${GUARD}
local why = guard(KEYS[1], ARGV[1])
if why then return why end
if tonumber(ARGV[2]) > tonumber(redis.call('HGET', KEYS[1], 'w')) then redis.call('HSET', KEYS[1], 'w', ARGV[2]) end
return 'ok'`,
  },

  /** KEYS: rec, out. ARGV: ep, a. The client acknowledged up to a. */
  acknowledge: {
    keys: 2,
    lua: `${GUARD}${TRIM}
local why = guard(KEYS[1], ARGV[1])
if why then return why end
trim(KEYS[1], KEYS[2], tonumber(ARGV[2]))
return 'ok'`,
  },

  /**
   * KEYS: rec. ARGV: ep, s, n, op. Client messages s .. s+n-1 arrived on the link of ep: how many
   * leading ones were claimed before, or 'gap'. Claiming marks them as being delivered, so a
   * resend of the same messages (on this link, or pipelined) is not delivered twice. `op` is
   * unique to this call: run again (its reply lost), it gives the same answer. A session's claims
   * come one at a time (from its one link, a frame after the other), so the latest is enough.
   */
  claim: {
    keys: 1,
    lua: `${GUARD}
local why = guard(KEYS[1], ARGV[1])
if why then return why end
local r = redis.call('HMGET', KEYS[1], 'cl', 'clop', 'clr')
if r[2] == ARGV[4] then return tonumber(r[3]) or r[3] end
local cl = tonumber(r[1])
local s, n = tonumber(ARGV[2]), tonumber(ARGV[3])
local answer = 'gap'
if s <= cl + 1 then
  if s + n - 1 > cl then redis.call('HSET', KEYS[1], 'cl', s + n - 1) end
  answer = math.min(n, cl + 1 - s)
end
redis.call('HSET', KEYS[1], 'clop', ARGV[4], 'clr', answer)
return answer`,
  },

  /** KEYS: rec. ARGV: ep, in. Delivered to the application up to in: only now may an ack cover them. */
  commit: {
    keys: 1,
    lua: `${GUARD}
local why = guard(KEYS[1], ARGV[1])
if why then return why end
if tonumber(ARGV[2]) > tonumber(redis.call('HGET', KEYS[1], 'in')) then redis.call('HSET', KEYS[1], 'in', ARGV[2]) end
return 'ok'`,
  },
} as const;

export type ScriptName = keyof typeof SCRIPTS;
