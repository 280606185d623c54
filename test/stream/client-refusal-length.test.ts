/**
 * The body of a refused upgrade (ERR_WS_UPGRADE_DECLINED's `response.body`) against a server whose
 * Content-Length is malformed: RFC 9110 §8.6 allows digits only, so one that is not (a sign, hex, an
 * exponent) frames nothing and the body is what comes until the end; a list repeating one value is that
 * value; under Transfer-Encoding it is no length at all (RFC 9112 §6.3).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ClientHandshakeError, connect } from '../../src/index.js';
import { fakeServer } from '../support/hostile.js';

const cases: { name: string; fields: string; body: string; expected: string }[] = [
  { name: 'Content-Length: 2', fields: 'Content-Length: 2\r\n', body: 'abcdef', expected: 'ab' },
  { name: 'Content-Length: -3', fields: 'Content-Length: -3\r\n', body: 'abcdef', expected: 'abcdef' },
  { name: 'Content-Length: 0x2', fields: 'Content-Length: 0x2\r\n', body: 'abcdef', expected: 'abcdef' },
  { name: 'Content-Length: 2e0', fields: 'Content-Length: 2e0\r\n', body: 'abcdef', expected: 'abcdef' },
  { name: 'Content-Length: 2, 2', fields: 'Content-Length: 2, 2\r\n', body: 'abcdef', expected: 'ab' },
  {
    name: 'Content-Length twice, 2 and 2',
    fields: 'Content-Length: 2\r\nContent-Length: 2\r\n',
    body: 'abcdef',
    expected: 'ab',
  },
  { name: 'Content-Length: 2, 3', fields: 'Content-Length: 2, 3\r\n', body: 'abcdef', expected: 'abcdef' },
  {
    name: 'Transfer-Encoding: chunked with Content-Length: 2',
    fields: 'Transfer-Encoding: chunked\r\nContent-Length: 2\r\n',
    body: '6\r\nabcdef\r\n0\r\n\r\n',
    expected: '6\r\nabcdef\r\n0\r\n\r\n',
  },
];

describe('client role: the body of a refusal whose Content-Length is malformed', () => {
  for (const c of cases) {
    it(`${c.name}: the body is ${JSON.stringify(c.expected)}`, async (t) => {
      // The server ends its side after the body: a body read to the end ends there, at once.
      const { url } = await fakeServer(t, (socket) => socket.end(`HTTP/1.1 403 Forbidden\r\n${c.fields}\r\n${c.body}`));
      const err = (await connect(url).then(
        () => assert.fail('the refusal opened'),
        (e: unknown) => e,
      )) as ClientHandshakeError;
      assert.equal(err.code, 'ERR_WS_UPGRADE_DECLINED');
      assert.equal(err.response?.status, 403);
      assert.equal(err.response?.body.toString('latin1'), c.expected);
    });
  }
});
