/**
 * @libsql/hrana-client 0.10 (libSQL's Hrana protocol over WebSocket), which takes ws through @libsql/isomorphic-ws,
 * run with `ws` as installed and aliased to ws-stream/ws (test/support/ws-alias.ts) in a child process each
 * (apps/hrana.ts), against a fake sqld on the real ws. Both engines must show the same: the subprotocol the server
 * chose read back as the protocol version (3, then 2 for a client offering hrana2 and hrana1), values of each type
 * (a blob, 1 MiB of text), an SQL error, a batch with ok/error conditions, a stored SQL text, the client's own close
 * codes and reasons on bad input (3003 for a binary frame under JSON, 3007 after a refused token), a server's 1001
 * failing a pending query with its reason, and `close()` without a code (1005), every request in order on the server.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

const insert = 'execute INSERT INTO notes (body, data) VALUES (?, ?)';

for (const engine of aliasEngines) {
  describe(`@libsql/hrana-client on ${engine.name}`, () => {
    it('negotiates hrana3/hrana2, runs queries and batches, closes with its own codes on bad input', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'hrana', engine);
      const ours = engine.name === 'ws-stream/ws';
      assert.deepEqual(result, {
        aliased: ours,
        socketIsOurs: ours,
        version: 3,
        sum: 42,
        inserted: [1, '1'],
        rows: [
          [1, 'héllo 👋', [0, 1, 254, 255]],
          [2, 'text:1048576', null],
        ],
        columns: ['id', 'body', 'data'],
        sqlError: 'ResponseError: SQLITE_ERROR: no such table: missing (SQLITE_ERROR)',
        batch: [1, 3, 'ResponseError: SQLITE_ERROR: no such table: nowhere (SQLITE_ERROR)', 2],
        storedSql: 3,
        binaryFrame: 'ProtoError: Received non-text message from server with JSON encoding',
        binaryFrameOnServer: 'hrana3 3003 Only text messages are accepted with JSON encoding',
        closedClient: true,
        v2Version: 2,
        v2Sum: 5,
        goingAway: 'WebSocketError: WebSocket was closed with code 1001: going away',
        goingAwayOnServer: 'hrana2 1001 going away',
        badToken: 'ResponseError: Authentication failed: invalid token (AUTH_FAILED)',
        badTokenOnServer: 'hrana3 3007 Could not handle message',
        closeOnServer: 'hrana3 1005',
        server: [
          'hrana3 text hello good-token',
          'hrana3 text open_stream',
          'hrana3 text execute SELECT ? + ?',
          `hrana3 text ${insert}`,
          `hrana3 text ${insert}`,
          'hrana3 text execute SELECT id, body, data FROM notes',
          'hrana3 text execute SELECT * FROM missing',
          'hrana3 text batch 4 steps',
          'hrana3 text store_sql',
          'hrana3 text execute #0',
          'hrana3 text execute SELECT binary',
          'hrana2 text hello good-token',
          'hrana2 text open_stream',
          'hrana2 text execute SELECT ? + ?',
          'hrana2 text execute SELECT shutdown',
          // Sent together on 'open', before the hello_error came back.
          'hrana3 text hello bad-token',
          'hrana3 text open_stream',
          'hrana3 text execute SELECT ? + ?',
          'hrana3 text hello good-token',
          'hrana3 text open_stream',
          'hrana3 text execute SELECT count(*) FROM notes',
        ],
      });
    });
  });
}
