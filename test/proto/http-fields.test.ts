/**
 * The header fields of a request head, as the one-pass parser reads them: names in any case become
 * lower-case keys (the handshake's usual names and any other alike), values lose their optional
 * white space, repeated fields join, and each fault is refused with its reason; a head with more
 * fields than `maxHeaders` is 431 whatever its fields hold, as when the fields were counted first.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HeadError, parseRequestHead, parseResponseHead } from '../../src/proto/http.js';

const limits = { maxHeaderBytes: 16 * 1024, maxHeaders: 4 };

/** The request line and these field lines, as the parser gets a head (without the final CRLF CRLF). */
function head(...fields: string[]): string {
  return ['GET / HTTP/1.1', ...fields].join('\r\n');
}

/** The status and reason of the error parsing `text` throws. */
function refusal(text: string, max = limits.maxHeaders): string {
  try {
    parseRequestHead(text, { ...limits, maxHeaders: max });
  } catch (e) {
    assert.ok(e instanceof HeadError, String(e));
    return `${e.status} ${e.detail}`;
  }
  assert.fail('parsed');
}

describe('request head fields', () => {
  it('keys names in lower case, keeps them as sent in rawHeaders, and trims values', () => {
    const r = parseRequestHead(
      head('hOsT:  example.com\t', 'SEC-WEBSOCKET-KEY:x', 'X-Custom-Name: \tv w ', 'sec-websocket-versioN: 13'),
      limits,
    );
    assert.deepEqual(Object.keys(r.headers), ['host', 'sec-websocket-key', 'x-custom-name', 'sec-websocket-version']);
    assert.deepEqual(Object.values(r.headers), ['example.com', 'x', 'v w', '13']);
    assert.deepEqual(r.rawHeaders, [
      'hOsT',
      'example.com',
      'SEC-WEBSOCKET-KEY',
      'x',
      'X-Custom-Name',
      'v w',
      'sec-websocket-versioN',
      '13',
    ]);
    assert.equal(Object.getPrototypeOf(r.headers), null);
  });

  it('takes names that only resemble the usual ones as they are', () => {
    // Same length as "upgrade" and "host", one character off; "_" and "^" are tchars one bit from letters.
    const r = parseRequestHead(head('Upgrad_: a', 'Hos^: b', 'Host: c', 'constructor: d'), limits);
    assert.deepEqual(Object.keys(r.headers), ['upgrad_', 'hos^', 'host', 'constructor']);
    assert.equal(r.headers.constructor, 'd');
  });

  it('joins repeated fields and refuses a second Host', () => {
    assert.equal(parseRequestHead(head('A: 1', 'a: 2', 'A:3'), limits).headers.a, '1, 2, 3');
    assert.equal(refusal(head('Host: a', 'host: b')), '400 more than one Host header');
  });

  it('refuses a request line with an empty target', () => {
    assert.equal(refusal('GET  HTTP/1.1\r\nHost: h'), '400 malformed request line');
  });

  it('refuses each fault of a field line with its reason', () => {
    assert.equal(refusal(head('NoColon')), '400 malformed header field');
    assert.equal(refusal(head(': value')), '400 malformed header field');
    assert.equal(refusal(head('Name : value')), '400 malformed header field name');
    assert.equal(refusal(head('Host: a', ' folded: b')), '400 malformed header field name');
    assert.equal(refusal(head('Na(me: value')), '400 malformed header field name');
    assert.equal(refusal(head('A: b\rc')), '400 control character in header value');
    assert.equal(refusal(head('A: b\nc')), '400 control character in header value');
    assert.equal(refusal(head('A: b\x7f')), '400 control character in header value');
    assert.equal(refusal(head('A: b\r')), '400 control character in header value');
    // HTAB and Latin-1 are allowed in a value.
    assert.equal(parseRequestHead(head('A: b\tc\xe9'), limits).headers.a, 'b\tc\xe9');
  });

  it('is 431 for more than maxHeaders fields, whichever field is faulty', () => {
    const five = ['A: 1', 'B: 2', 'C: 3', 'D: 4', 'E: 5'];
    assert.equal(refusal(head(...five)), '431 more than 4 header fields');
    for (let i = 0; i < five.length; i++) {
      for (const bad of ['Bad', 'B d: x', 'X: \x01', 'Host: a']) {
        const fields = [...five];
        fields[i] = bad;
        if (bad === 'Host: a') fields[(i + 1) % fields.length] = 'Host: b';
        const text = head(...fields);
        assert.equal(refusal(text), '431 more than 4 header fields', JSON.stringify(text));
        // Within the limit, the fault itself.
        assert.match(refusal(text, 5), /^400 /, JSON.stringify(text));
      }
    }
  });

  it('reads a response head the same way, its obs-fold joined', () => {
    const r = parseResponseHead('HTTP/1.1 101 Switching Protocols\r\nUpgrade: web\r\n  socket\r\nX-A: 1', limits);
    assert.deepEqual(r.headers, Object.assign(Object.create(null), { upgrade: 'web socket', 'x-a': '1' }));
    assert.deepEqual(r.rawHeaders, ['Upgrade', 'web socket', 'X-A', '1']);
  });
});
