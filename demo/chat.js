// Chat room on the IIFE build (global `Realtime`). Text from the network only ever reaches the
// page through textContent.
/* global Realtime -- defined by dist/realtime.min.js, which chat.html loads before this script */
const $ = (id) => document.getElementById(id);
const randomId = () =>
  Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, '0')).join('');
const time = (ms) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });

// Identifies this page's connections to the server, so "simulate outage" refuses only ours.
const cid = randomId();
/** Message ids already on screen: our own are shown before the server echoes them back. */
const shown = new Set();
let client;
let me = null;

$('join').addEventListener('submit', (e) => {
  e.preventDefault();
  const nick = $('nick').value.trim();
  if (nick) join(nick);
});

function join(nick) {
  $('join').hidden = true;
  $('room').hidden = false;
  // autoConnect: false, so the listeners below see every event from the first one.
  client = new Realtime.RealtimeClient(`/realtime?cid=${cid}`, { autoConnect: false });
  client.on('state', ({ to }) => {
    $('state').textContent = to;
    $('state').className = `badge state-${to}`;
  });
  client.on('transport', ({ to }) => ($('transport').textContent = `via ${to}`));
  // A resumed session is still joined; a new one (first time, or the old one expired) is not.
  client.on('open', ({ resumed }) => resumed || client.send({ type: 'hello', nick }).catch(showError));
  client.on('message', onMessage);
  client.on('error', showError);
  // Leaving properly ends the session at once, so others see us go now rather than in 2 minutes.
  addEventListener('pagehide', () => client.close());
  client.connect();
  $('text').focus();
}

function onMessage(msg) {
  switch (msg?.type) {
    case 'joined':
      me = { id: msg.id, nick: msg.nick };
      $('me').textContent = `You are ${msg.nick}.`;
      break;
    case 'history':
      msg.messages.forEach(addMessage);
      break;
    case 'presence':
      showPeople(msg.users);
      break;
    case 'chat':
      addMessage(msg);
      break;
    case 'notice':
      addNotice(msg.text);
      break;
  }
}

$('composer').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('text').value.trim();
  if (!text || !me) return;
  const select = $('to');
  const to = select.value ? { id: select.value, nick: select.selectedOptions[0].textContent } : undefined;
  const mid = randomId();
  const el = addMessage({ mid, from: me, to, text, at: Date.now() });
  el.classList.add('pending');
  el.querySelector('.tick').title = 'Waiting for the server to acknowledge it';
  $('text').value = '';
  // send() resolves on the server's ack: only then is the message really delivered.
  client.send({ type: 'chat', text, to: to?.id, mid }).then(
    () => {
      el.classList.remove('pending');
      el.querySelector('.tick').textContent = '✓';
      el.querySelector('.tick').title = 'Delivered to the server';
    },
    (err) => {
      el.classList.replace('pending', 'failed');
      el.querySelector('.tick').textContent = '✗';
      el.querySelector('.tick').title = err.message;
    },
  );
});

function addMessage(m) {
  if (shown.has(m.mid)) return null;
  shown.add(m.mid);
  const li = document.createElement('li');
  li.className = 'msg';
  if (m.from.id === me?.id) li.classList.add('mine');
  if (m.to) li.classList.add('private');
  const meta = document.createElement('div');
  meta.className = 'meta';
  meta.append(span('when', time(m.at)), ' ', span('who', m.from.nick));
  if (m.to) meta.append(' → ', span('who', m.to.nick), ' ', span('tag', 'private'));
  meta.append(' ', span('tick', ''));
  li.append(meta, span('text', m.text));
  $('log').append(li);
  li.scrollIntoView({ block: 'nearest' });
  return li;
}

function addNotice(text) {
  const li = document.createElement('li');
  li.className = 'notice';
  li.textContent = text;
  $('log').append(li);
}

function showPeople(users) {
  const list = $('people');
  const select = $('to');
  const chosen = select.value;
  list.replaceChildren();
  select.replaceChildren(new Option('Everyone', ''));
  for (const u of users) {
    const li = document.createElement('li');
    li.className = u.online ? 'online' : 'away';
    li.title = u.online ? 'online' : 'connection lost, may come back';
    li.append(span('dot', ''), u.nick, u.id === me?.id ? span('muted', ' (you)') : '');
    if (u.id !== me?.id) {
      li.classList.add('pickable');
      li.addEventListener('click', () => (select.value = u.id));
      select.append(new Option(u.nick, u.id));
    }
    list.append(li);
  }
  // Keep the recipient if they are still here.
  select.value = users.some((u) => u.id === chosen) ? chosen : '';
}

$('outage').addEventListener('click', () => client?.send({ type: 'outage', seconds: 5, cid }).catch(showError));

function showError(err) {
  addNotice(`${err.code ?? 'error'}: ${err.message}`);
}

function span(className, text) {
  const s = document.createElement('span');
  s.className = className;
  s.textContent = text;
  return s;
}
