/** The page `ws-stream serve` answers a plain GET / with: connect, send, see the echo. */
export const page = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ws-stream echo</title>
<style>body{font:15px system-ui,sans-serif;margin:2em;max-width:42em}#log{border:1px solid #ccc;padding:.5em;min-height:8em;white-space:pre-wrap;font-family:monospace}input{width:70%}</style>
</head><body>
<h1>ws-stream echo</h1>
<p>State: <b id="state">connecting</b> · subprotocol: <b id="protocol">none</b> · extensions: <b id="extensions">none</b></p>
<form id="form"><input id="text" autocomplete="off" placeholder="a message"> <button id="send" type="submit">Send</button></form>
<div id="log"></div>
<script>
const log = (s) => { const d = document.getElementById('log'); d.textContent += s + '\\n'; };
const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/';
const params = new URLSearchParams(location.search);
const ws = new WebSocket(url, params.getAll('protocol'));
ws.onopen = () => {
  document.getElementById('state').textContent = 'open';
  document.getElementById('protocol').textContent = ws.protocol || 'none';
  document.getElementById('extensions').textContent = ws.extensions || 'none';
};
ws.onmessage = (e) => log('echo: ' + e.data);
ws.onclose = (e) => { document.getElementById('state').textContent = 'closed (' + e.code + ')'; };
document.getElementById('form').onsubmit = (e) => {
  e.preventDefault();
  const t = document.getElementById('text');
  ws.send(t.value); log('sent: ' + t.value); t.value = '';
};
</script>
</body></html>
`;
