/**
 * @libsql/hrana-client 0.10 (libSQL's Hrana protocol over WebSocket, as @libsql/client uses it for `libsql://` URLs),
 * run by hrana.test.ts with `ws` as installed or aliased to ws-stream/ws. The client takes `WebSocket` from
 * @libsql/isomorphic-ws (`require('ws')` / `import … from 'ws'` on Node), offers a subprotocol per protocol version
 * (`hrana3-protobuf`, `hrana3`, `hrana2`, `hrana1`), reads `protocol` to pick its version and encoding, sets
 * `binaryType = 'arraybuffer'`, queues its hello until 'open', and closes with codes of its own (3003, 3007) on bad
 * input. Against a small fake sqld written here on the real ws (JSON encoding; `handleProtocols` choosing hrana3 or
 * hrana2; a table of notes kept in memory), the flow: version 3 and version 2 clients, queries with float, text,
 * blob and 1 MiB values, an SQL error, a batch with conditions, a stored SQL text, a wrong token (the client's 3007), a
 * binary frame where text is due (the client's 3003), a server going away under a pending query, and `close()`.
 * Prints what the clients and the server saw.
 */
import http from 'node:http';
import { createRequire } from 'node:module';
import type net from 'node:net';
import * as hrana from '@libsql/hrana-client';
import { aliased, ours, queue, RealWebSocket, report } from './peer.js';

const require = createRequire(import.meta.url);

/** A Hrana value (JSON encoding). */
type Value =
  | { type: 'null' }
  | { type: 'integer'; value: string }
  | { type: 'float'; value: number }
  | { type: 'text'; value: string }
  | { type: 'blob'; base64: string };
interface Stmt {
  sql?: string;
  sql_id?: number;
  args?: Value[];
  want_rows?: boolean;
}
interface Request {
  type: string;
  stream_id?: number;
  stmt?: Stmt;
  batch?: { steps: { condition?: { type: string; step?: number }; stmt: Stmt }[] };
  sql_id?: number;
  sql?: string;
}
class SqlError extends Error {}

/** The fake sqld's database: one table, and the few statements the app runs. */
const notes: { body: Value; data: Value }[] = [];
const integer = (n: number): Value => ({ type: 'integer', value: String(n) });
const execute = (stmt: Stmt, storedSql: Map<number, string>) => {
  const sql = stmt.sql ?? storedSql.get(stmt.sql_id ?? -1);
  const args = stmt.args ?? [];
  const result = (rows: Value[][], cols: string[], affected = 0, rowid?: number) => ({
    cols: cols.map((name) => ({ name, decltype: null })),
    rows: stmt.want_rows ? rows : [],
    affected_row_count: affected,
    last_insert_rowid: rowid === undefined ? null : String(rowid),
  });
  if (sql === 'SELECT ? + ?') {
    const [a, b] = args.map((v) => ('value' in v ? Number(v.value) : 0));
    return result([[integer((a ?? 0) + (b ?? 0))]], ['sum']);
  }
  if (sql === 'INSERT INTO notes (body, data) VALUES (?, ?)') {
    notes.push({ body: args[0] ?? { type: 'null' }, data: args[1] ?? { type: 'null' } });
    return result([], [], 1, notes.length);
  }
  if (sql === 'SELECT id, body, data FROM notes') {
    return result(
      notes.map((n, i) => [integer(i + 1), n.body, n.data]),
      ['id', 'body', 'data'],
    );
  }
  if (sql === 'SELECT count(*) FROM notes') return result([[integer(notes.length)]], ['count(*)']);
  throw new SqlError(`SQLITE_ERROR: no such table: ${sql?.split(' ').pop()}`);
};

const serverSaw: string[] = [];
const serverClosed = queue<string>();
const server = http.createServer();
const wss = new RealWebSocket.WebSocketServer({
  server,
  handleProtocols: (protocols) => (protocols.has('hrana3') ? 'hrana3' : protocols.has('hrana2') ? 'hrana2' : false),
});
wss.on('connection', (ws) => {
  const storedSql = new Map<number, string>();
  const send = (message: object) => ws.send(JSON.stringify(message));
  ws.on('message', (data: Buffer, isBinary) => {
    const m = JSON.parse(String(data)) as { type: string; jwt?: string; request_id: number; request: Request };
    const r = m.request;
    serverSaw.push(
      `${ws.protocol} ${isBinary ? 'binary' : 'text'} ${m.type === 'hello' ? `hello ${m.jwt}` : r.type}` +
        (r?.stmt ? ` ${r.stmt.sql ?? `#${r.stmt.sql_id}`}` : '') +
        (r?.batch ? ` ${r.batch.steps.length} steps` : ''),
    );
    if (m.type === 'hello') {
      if (m.jwt === 'good-token') send({ type: 'hello_ok' });
      else
        send({ type: 'hello_error', error: { message: 'Authentication failed: invalid token', code: 'AUTH_FAILED' } });
      return;
    }
    const ok = (response: object) => send({ type: 'response_ok', request_id: m.request_id, response });
    try {
      if (r.type === 'execute' && r.stmt?.sql === 'SELECT binary') {
        ws.send(Buffer.from('{}'));
      } else if (r.type === 'execute' && r.stmt?.sql === 'SELECT shutdown') {
        ws.close(1001, 'going away');
      } else if (r.type === 'execute' && r.stmt) {
        ok({ type: 'execute', result: execute(r.stmt, storedSql) });
      } else if (r.type === 'batch' && r.batch) {
        const results: unknown[] = [];
        const errors: unknown[] = [];
        for (const step of r.batch.steps) {
          const c = step.condition;
          const run =
            c === undefined ||
            (c.type === 'ok' && results[c.step ?? -1] != null) ||
            (c.type === 'error' && errors[c.step ?? -1] != null);
          let stepResult = null;
          let stepError = null;
          if (run) {
            try {
              stepResult = execute(step.stmt, storedSql);
            } catch (err) {
              stepError = { message: (err as Error).message, code: 'SQLITE_ERROR' };
            }
          }
          results.push(stepResult);
          errors.push(stepError);
        }
        ok({ type: 'batch', result: { step_results: results, step_errors: errors } });
      } else if (r.type === 'store_sql') {
        storedSql.set(r.sql_id ?? -1, r.sql ?? '');
        ok({ type: 'store_sql' });
      } else {
        ok({ type: r.type });
      }
    } catch (err) {
      if (!(err instanceof SqlError)) throw err;
      send({ type: 'response_error', request_id: m.request_id, error: { message: err.message, code: 'SQLITE_ERROR' } });
    }
  });
  ws.on('close', (code, reason) => serverClosed.push(`${ws.protocol} ${code}${reason.length ? ` ${reason}` : ''}`));
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `ws://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
const failure = (err: unknown) => {
  const e = err as Error & { code?: string; cause?: Error };
  return `${e.constructor.name}: ${e.message}${e.code ? ` (${e.code})` : ''}${e.cause ? ` ← ${e.cause.message}` : ''}`;
};

const result: Record<string, unknown> = { aliased: aliased(require.resolve('@libsql/isomorphic-ws')) };

// Version 3 (JSON): the server chose `hrana3` over `hrana3-protobuf`.
const client = hrana.openWs(url, 'good-token', 3);
result.socketIsOurs = (hrana.WebSocket as unknown) === ours.WebSocket;
result.version = await client.getVersion();
const stream = client.openStream();
result.sum = await stream.queryValue(['SELECT ? + ?', [40, 2]]).then((r) => r.value);
const blob = new Uint8Array([0, 1, 254, 255]);
const inserted = await stream.run(['INSERT INTO notes (body, data) VALUES (?, ?)', ['héllo 👋', blob]]);
result.inserted = [inserted.affectedRowCount, String(inserted.lastInsertRowid)];
const large = 'x'.repeat(1024 * 1024);
await stream.run(['INSERT INTO notes (body, data) VALUES (?, ?)', [large, null]]);
const rows = await stream.query('SELECT id, body, data FROM notes');
result.rows = rows.rows.map((row) => [
  row.id,
  typeof row.body === 'string' && row.body.length > 100 ? `text:${row.body.length}` : row.body,
  row.data instanceof ArrayBuffer ? [...new Uint8Array(row.data)] : row.data,
]);
result.columns = rows.columnNames;
result.sqlError = await stream.query('SELECT * FROM missing').then(() => 'succeeded', failure);

// A batch: step 1 runs if step 0 succeeded, step 3 if step 2 failed.
const batch = stream.batch();
const steps = [batch.step(), batch.step(), batch.step(), batch.step()] as const;
const first = steps[0].run(['INSERT INTO notes (body, data) VALUES (?, ?)', ['batched', null]]);
const second = steps[1].condition(hrana.BatchCond.ok(steps[0])).queryValue('SELECT count(*) FROM notes');
const third = steps[2].run('DELETE FROM nowhere');
const fourth = steps[3].condition(hrana.BatchCond.error(steps[2])).queryValue(['SELECT ? + ?', [1, 1]]);
await batch.execute();
result.batch = [
  await first.then((r) => r?.affectedRowCount),
  await second.then((r) => r?.value),
  await third.then(() => 'succeeded', failure),
  await fourth.then((r) => r?.value),
];

// A stored SQL text, run by its id.
const count = client.storeSql('SELECT count(*) FROM notes');
result.storedSql = await stream.queryValue(count).then((r) => r.value);

// A binary frame where the JSON encoding wants text: the client closes with 3003 and fails what was pending.
const binaryClosed = serverClosed.next();
result.binaryFrame = await stream.query('SELECT binary').then(() => 'succeeded', failure);
result.binaryFrameOnServer = await binaryClosed;
result.closedClient = client.closed;

// Version 2, and a server going away under a pending query.
const v2 = hrana.openWs(url, 'good-token');
result.v2Version = await v2.getVersion();
const v2Stream = v2.openStream();
result.v2Sum = await v2Stream.queryValue(['SELECT ? + ?', [2, 3]]).then((r) => r.value);
result.goingAway = await v2Stream.query('SELECT shutdown').then(() => 'succeeded', failure);
result.goingAwayOnServer = await serverClosed.next();

// A wrong token: hello_error; the client closes with 3007 and fails the pending request.
const stranger = hrana.openWs(url, 'bad-token', 3);
result.badToken = await stranger
  .openStream()
  .query('SELECT ? + ?')
  .then(() => 'succeeded', failure);
result.badTokenOnServer = await serverClosed.next();

// close(): the client closes the socket without a code.
const last = hrana.openWs(url, 'good-token', 3);
await last.openStream().queryValue('SELECT count(*) FROM notes');
last.close();
result.closeOnServer = await serverClosed.next();
result.server = serverSaw;
wss.close();
await new Promise((resolve) => server.close(resolve));
report(result);
