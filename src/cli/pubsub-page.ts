/**
 * The chat page `ws-stream serve --pubsub` answers GET / with: pick a room (a topic), see its
 * messages, send your own. It speaks the server's JSON protocol, and after a reconnect it asks for
 * what it missed with `since`.
 */
export const chatPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ws-stream chat</title>
<style>body{font:15px system-ui,sans-serif;margin:2em;max-width:42em}#messages{border:1px solid #ccc;padding:.5em;min-height:10em;list-style:none;margin:1em 0}#messages li{padding:.1em 0}#text{width:60%}.who{font-weight:bold}.error{color:#b00}</style>
</head><body>
<h1>ws-stream chat</h1>
<p>State: <b id="state">connecting</b> · room: <b id="room-name"></b></p>
<form id="join">Room <input id="room" value="lobby" autocomplete="off"> as <input id="name" value="guest" size="10" autocomplete="off"> <button id="go" type="submit">Join</button></form>
<ul id="messages"></ul>
<form id="form"><input id="text" autocomplete="off" placeholder="a message"> <button id="send" type="submit">Send</button></form>
<script>
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
if (params.get('room')) $('room').value = params.get('room');
if (params.get('name')) $('name').value = params.get('name');
let ws = null;
let room = null;
const last = {}; // room -> { offset, epoch }: where to recover from after a reconnect
let joined = false; // the room's subscribe answered; until then a refusal (broker down) is retried
let retry = null;
const show = (html, cls) => { const li = document.createElement('li'); if (cls) li.className = cls; li.append(...html); $('messages').append(li); };
const text = (s, cls) => { const e = document.createElement('span'); e.textContent = s; if (cls) e.className = cls; return e; };
const subscribe = () => {
  if (!room || !ws || ws.readyState !== 1) return;
  joined = false;
  const req = { op: 'subscribe', topic: room };
  if (last[room]) req.since = last[room];
  ws.send(JSON.stringify(req));
};
const connect = () => {
  ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/');
  ws.onopen = () => { $('state').textContent = 'open'; subscribe(); };
  ws.onclose = () => { $('state').textContent = 'reconnecting'; setTimeout(connect, 1000); };
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.op === 'subscribed') {
      if (m.topic === room) { joined = true; $('state').textContent = 'joined'; }
      last[m.topic] = { offset: last[m.topic] && m.recovered ? last[m.topic].offset : m.offset, epoch: m.epoch };
    } else if (m.op === 'message' && m.topic === room) {
      if (last[room]) last[room].offset = m.offset;
      // This page publishes { from, text }; other clients may publish any JSON: shown as sent.
      const d = m.data;
      if (d !== null && typeof d === 'object' && typeof d.text === 'string') {
        show([text((d.from === undefined ? 'someone' : String(d.from)) + ': ', 'who'), text(String(d.text))], 'message');
      } else show([text(typeof d === 'string' ? d : JSON.stringify(d))], 'message');
    } else if (m.op === 'error') {
      show([text(m.code + ': ' + m.message)], 'error');
      // The server does not retry a subscribe the broker refused: ask again a little later.
      if (m.code === 'ERR_WS_BROKER_UNAVAILABLE' && !joined && !retry) retry = setTimeout(() => { retry = null; subscribe(); }, 1000);
    }
  };
};
$('join').onsubmit = (e) => {
  e.preventDefault();
  const next = $('room').value.trim();
  if (!next || next === room) return;
  if (room && ws && ws.readyState === 1) ws.send(JSON.stringify({ op: 'unsubscribe', topic: room }));
  room = next;
  $('room-name').textContent = room;
  $('messages').textContent = '';
  $('state').textContent = 'joining';
  delete last[room];
  subscribe();
};
$('form').onsubmit = (e) => {
  e.preventDefault();
  const t = $('text');
  if (!room || !t.value || !ws || ws.readyState !== 1) return;
  ws.send(JSON.stringify({ op: 'publish', topic: room, data: { from: $('name').value, text: t.value } }));
  t.value = '';
};
room = $('room').value.trim();
$('room-name').textContent = room;
connect();
</script>
</body></html>
`;
