/**
 * The request parser scans a head's bytes when it has them (HeadReader, the handshake's path) and the
 * string's characters as bytes when it is given a string alone: both must read every head as a
 * plain model of RFC 9112 §5 does — token names, keys in lower case (the handshake's usual names
 * recognised in any case, names one character off taken as they are), values without OWS, repeated
 * fields joined, a second Host, a control character or a malformed name refused. Random heads
 * (fast-check, seeded by FUZZ_SEED or the clock), read whole, cut into pieces, and behind empty lines.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { HeadError, HeadReader, headEnd, type ParsedRequest, parseRequestHead } from '../../src/proto/http.js';
import { validateUpgradeRequest } from '../../src/proto/handshake-server.js';
import { WebSocketError } from '../../src/errors.js';

const seed = process.env.FUZZ_SEED === undefined ? Date.now() % 2 ** 31 : Number(process.env.FUZZ_SEED);
console.log(`fast-check seed ${seed} (replay with FUZZ_SEED=${seed})`);

const limits = { maxHeaderBytes: 64 * 1024, maxHeaders: 12 };

/** What the parser answers: the request's parts, or the refusal's status. */
type Outcome = { headers: [string, unknown][]; rawHeaders: string[]; target: string; version: string } | number;

function outcome(r: ParsedRequest): Outcome {
  assert.equal(Object.getPrototypeOf(r.headers), null);
  return { headers: Object.entries(r.headers), rawHeaders: r.rawHeaders, target: r.target, version: r.httpVersion };
}

/** The model: the head (without its final CRLF CRLF) read line by line with regular expressions. */
function model(head: string): Outcome {
  const lines = head.split('\r\n');
  const m = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e]+) HTTP\/(\d\.\d)$/.exec(lines[0]!);
  if (!m) return 400;
  if (lines.length - 1 > limits.maxHeaders) return 431;
  const headers = new Map<string, string>();
  const rawHeaders: string[] = [];
  for (const line of lines.slice(1)) {
    const f = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*$/s.exec(line);
    if (!f || [...f[2]!].some(isControl)) return 400;
    const key = f[1]!.toLowerCase();
    if (key === 'host' && headers.has(key)) return 400;
    headers.set(key, headers.has(key) ? `${headers.get(key)}, ${f[2]}` : f[2]!);
    rawHeaders.push(f[1]!, f[2]!);
  }
  return { headers: [...headers], rawHeaders, target: m[2]!, version: m[3]! };
}

/** A control character other than HTAB (which a field value may not hold: RFC 9110 §5.5). */
function isControl(c: string): boolean {
  const code = c.charCodeAt(0);
  return (code < 0x20 && c !== '\t') || code === 0x7f;
}

function viaString(head: string): Outcome {
  try {
    return outcome(parseRequestHead(head, limits));
  } catch (e) {
    assert.ok(e instanceof HeadError, String(e));
    return e.status;
  }
}

/** Through HeadReader (the bytes' path): behind `lead` empty lines, fed in pieces cut at `cuts`. */
function viaBytes(head: string, lead: number, cuts: number[]): Outcome {
  const bytes = Buffer.from(`${'\r\n'.repeat(lead)}${head}\r\n\r\nafter`, 'latin1');
  const reader = new HeadReader(limits, parseRequestHead);
  let at = 0;
  try {
    for (const end of [...cuts.filter((c) => c < bytes.length).sort((a, b) => a - b), bytes.length]) {
      const r = reader.push(bytes.subarray(at, end));
      at = end;
      if (r.done) return outcome(r.head);
    }
  } catch (e) {
    assert.ok(e instanceof HeadError, String(e));
    return e.status;
  }
  assert.fail('no head');
}

/** Each usual name in several spellings, and names one character off (a letter changed, '_', '^'). */
const usual = [
  'Host',
  'Upgrade',
  'Connection',
  'Origin',
  'User-Agent',
  'Sec-WebSocket-Key',
  'Sec-WebSocket-Version',
  'Sec-WebSocket-Protocol',
  'Sec-WebSocket-Extensions',
];
const name = fc.oneof(
  fc.constantFrom(...usual),
  fc.constantFrom(...usual).chain((n) =>
    fc
      .tuple(fc.nat({ max: n.length - 1 }), fc.constantFrom('lower', 'upper', 'flip', '_', '^', 'x', 'c'))
      .map(([i, how]) => {
        if (how === 'lower') return n.toLowerCase();
        if (how === 'upper') return n.toUpperCase();
        const c = n[i]!;
        const to = how === 'flip' ? (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()) : how;
        return n.slice(0, i) + to + n.slice(i + 1);
      }),
  ),
  fc.stringMatching(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,12}$/),
  fc.constantFrom('', 'Na me', 'Na(me', 'Nam\xe9', ' Host', 'Host '),
);
const value = fc.oneof(
  fc.stringMatching(/^[\x20-\x7e]{0,30}$/),
  fc.string({ unit: fc.integer({ min: 0, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength: 12 }),
  fc.constantFrom('websocket', 'Upgrade', 'dGhlIHNhbXBsZSBub25jZQ==', '13', ' \t 127.0.0.1 \t', 'a\rb', 'a\r', '\t'),
);
const head = fc
  .tuple(
    fc.constantFrom('GET / HTTP/1.1', 'GET /chat?x=1 HTTP/1.1', 'GET http://h/ HTTP/1.0', 'GET /a\x7fb HTTP/1.1'),
    fc.array(
      fc.tuple(name, fc.constantFrom(':', ': ', ':\t', ' :'), value).map(([n, sep, v]) => `${n}${sep}${v}`),
      { maxLength: 14 },
    ),
  )
  .map(([line, fields]) => [line, ...fields].join('\r\n'))
  // A CRLF CRLF inside (a value ending in CRLF) would end the head there on the wire.
  .filter((h) => !h.includes('\r\n\r\n') && !h.endsWith('\r\n'));

describe("the request parser's byte scans", () => {
  it('read every head as the model does, from a string and from bytes behind empty lines, in pieces', () => {
    fc.assert(
      fc.property(head, fc.nat({ max: 2 }), fc.array(fc.nat({ max: 400 }), { maxLength: 4 }), (h, lead, cuts) => {
        const expected = model(h);
        assert.deepEqual(viaString(h), expected);
        assert.deepEqual(viaBytes(h, lead, cuts), expected);
      }),
      { seed, numRuns: 3000 },
    );
  });

  it('keep a name spelled as usual, or otherwise, as it was sent', () => {
    const h = ['GET / HTTP/1.1', 'Sec-WebSocket-Key: k', 'sec-websocket-VERSION: 13', 'Host: h', 'HOST2: x'].join(
      '\r\n',
    );
    for (const r of [viaString(h), viaBytes(h, 1, [20])]) {
      assert.notEqual(typeof r, 'number');
      assert.deepEqual((r as Exclude<Outcome, number>).rawHeaders, [
        'Sec-WebSocket-Key',
        'k',
        'sec-websocket-VERSION',
        '13',
        'Host',
        'h',
        'HOST2',
        'x',
      ]);
    }
  });

  it("find a head's end where Buffer's indexOf finds CRLF CRLF, from any offset", () => {
    const bytes = fc.uint8Array({ maxLength: 16 }).map((b) => Buffer.from(b.map((x) => [0x0d, 0x0a, 0x61][x % 3]!)));
    fc.assert(
      fc.property(bytes, fc.nat({ max: 16 }), (b, from) => {
        assert.equal(headEnd(b, from), b.indexOf('\r\n\r\n', from, 'latin1'));
      }),
      { seed, numRuns: 20000 },
    );
  });

  it("are validated the same way with the parser's shortcuts (lower-case keys, one Host) as without", () => {
    // Upgrade requests with their usual fields in any order and case, sometimes one missing, repeated or bad.
    const field = fc.constantFrom(
      'Host: example.com',
      'host: a:1',
      'Host: ',
      'Upgrade: websocket',
      'UPGRADE: WebSocket, h2c',
      'upgrade: h2c',
      'Connection: Upgrade',
      'connection: keep-alive, upgrade',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      'sec-websocket-key: short',
      'Sec-WebSocket-Version: 13',
      'SEC-WEBSOCKET-VERSION: 8',
      'Sec-WebSocket-Protocol: chat, superchat',
      'Sec-WebSocket-Protocol: b@d',
      'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits',
      'Content-Length: 0',
      'content-length: 5',
      'Transfer-Encoding: chunked',
      'Origin: http://example.com',
    );
    const validation = (r: ParsedRequest, parsed: boolean): unknown => {
      try {
        return validateUpgradeRequest(r, parsed);
      } catch (e) {
        assert.ok(e instanceof WebSocketError, String(e));
        return e.code;
      }
    };
    fc.assert(
      fc.property(fc.array(field, { maxLength: 9 }), (fields) => {
        let r: ParsedRequest;
        try {
          r = parseRequestHead(['GET /x HTTP/1.1', ...fields].join('\r\n'), limits);
        } catch {
          return; // a second Host: refused by the parser
        }
        assert.deepEqual(validation(r, true), validation(r, false));
      }),
      { seed, numRuns: 3000 },
    );
  });
});
