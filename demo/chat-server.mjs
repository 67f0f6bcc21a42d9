// Chat room logic on the reference server. A session joins with {type:'hello', nick}; from then
// on its chat messages go to everyone, or with `to` (a session id) to that person and the sender.
// Presence is keyed by session, not connection: a dropped connection makes a user "away" until
// the session resumes or expires, and nobody sees them leave and rejoin.

const HISTORY = 30;
const MAX_TEXT = 500;

export function attachChat(rt) {
  /** session → { id, nick, online } for the sessions that said hello. */
  const users = new Map();
  const history = [];
  const toChat = (data, filter = () => true) => rt.broadcast(data, (s) => users.has(s) && filter(s));
  const presence = () => toChat({ type: 'presence', users: [...users.values()] });

  rt.on('connection', (session) => {
    session.on('message', (msg) => {
      if (msg?.type === 'hello') hello(session, msg);
      else if (msg?.type === 'chat' && users.has(session)) chat(session, msg);
    });
    session.on('disconnect', () => setOnline(session, false));
    session.on('resume', () => setOnline(session, true));
    session.on('close', () => users.delete(session) && presence());
  });

  function hello(session, msg) {
    const nick = unique(clean(msg.nick, 24) || 'anonymous', session);
    users.set(session, { id: session.id, nick, online: true });
    session.send({ type: 'joined', id: session.id, nick });
    session.send({ type: 'history', messages: history });
    presence();
  }

  function chat(session, msg) {
    const text = clean(msg.text, MAX_TEXT);
    if (!text) return;
    const from = users.get(session);
    const target = msg.to ? [...users.keys()].find((s) => s.id === msg.to) : undefined;
    if (msg.to && !target)
      return session.send({ type: 'notice', mid: msg.mid, text: 'That person has left; message not delivered.' });
    const out = {
      type: 'chat',
      mid: String(msg.mid ?? '').slice(0, 40),
      from: { id: from.id, nick: from.nick },
      to: target ? { id: target.id, nick: users.get(target).nick } : undefined,
      text,
      at: Date.now(),
    };
    if (target) toChat(out, (s) => s === target || s === session);
    else {
      toChat(out);
      history.push(out);
      if (history.length > HISTORY) history.shift();
    }
  }

  function setOnline(session, online) {
    const user = users.get(session);
    if (!user || user.online === online) return;
    user.online = online;
    presence();
  }

  function unique(nick, session) {
    const taken = new Set([...users].filter(([s]) => s !== session).map(([, u]) => u.nick));
    let candidate = nick;
    for (let n = 2; taken.has(candidate); n++) candidate = `${nick} (${n})`;
    return candidate;
  }
}

/** A trimmed single-line string of at most `max` characters, or '' for anything else. */
function clean(value, max) {
  return typeof value === 'string'
    ? value
        // eslint-disable-next-line no-control-regex -- matching control characters is the point: they are replaced
        .replace(/[\u0000-\u001f\u007f]/g, ' ')
        .trim()
        .slice(0, max)
    : '';
}
