/**
 * A `Broker` on Redis (≥ 7) through node-redis (`redis` v5), an optional peer dependency loaded by
 * `open()` only.
 *
 * Per topic T (keys share the hash tag `{T}`; `prefix` defaults to `ws-stream:`):
 * - `prefix{T}:o` the last offset (a counter), `prefix{T}:e` the epoch: created together, and
 *   created again together (offset back to 0, history dropped) when either is missing, e.g. after
 *   Redis restarted without persistence, or when the epoch was made by another run of the Redis
 *   server (restored from a file that may lag what it acknowledged: `fromAnotherRun`), so an
 *   offset always means the same message in one epoch;
 * - `prefix{T}:h` the history, a Redis Stream whose entry IDs are `<offset>-0` (so a range of
 *   offsets is one XRANGE), each with the payload, the binary flag, the Redis time and the
 *   stream's payload bytes so far, trimmed to `history.size` entries, `history.bytes` payload
 *   bytes and `history.ttlSeconds`;
 * - channel `prefix T`: `<offset> <0|1> <epoch>\n<payload>` for live delivery.
 * With `history.ttlSeconds`, each publication sets the history to expire that long after it and
 * the offset and epoch a minute later (renewed while a process subscribes the topic), so keys do
 * not outlive the servers that made them: a topic left alone leaves nothing in Redis, and, used
 * again, starts a new epoch at offset 1.
 * One Lua script increments the offset, appends to the history and PUBLISHes, so a message's
 * offset, its place in history and its place in every subscriber's stream are decided in one
 * step: delivery order is offset order on every process.
 *
 * Two connections: commands (scripts) and a subscriber (made alike), which node-redis
 * re-subscribes to every channel by itself when it reconnects, before it reports ready. A pair
 * that stalls (a keep-alive PING unanswered) is replaced by a new one, which subscribes every
 * channel before it is used.
 */
import { createHash, randomBytes } from 'node:crypto';
import { getEventListeners } from 'node:events';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { WebSocketError } from '../errors.js';
import { untrustedCertificate } from '../stream/next-layer.js';
import type { Broker, BrokerEvents, BrokerMessage, HistoryOptions, TopicPosition } from './broker.js';
import {
  brokerOptions,
  DeadlineError,
  emitAvailability,
  errorText,
  emitMessage,
  OwnDeliveries,
  historyBytes,
  keepConnecting,
  MAX_HELD,
  MAX_HELD_BYTES,
  checkMaxHeldBytes,
  emitRefused,
  isRefusal,
  maskCredentials,
  payloadBytes,
  reconnectDelay,
  refused,
  retryPause,
  unavailable,
  urlCredentials,
  withDeadline,
} from './broker-support.js';

export interface RedisBrokerOptions {
  /** `redis[s]://[[user][:password]@]host[:port][/db]`. Default `redis://127.0.0.1:6379`. */
  readonly url?: string;
  /** Prefix of every key and channel this broker uses. Default `'ws-stream:'`. */
  readonly prefix?: string;
  /** Milliseconds a command may take before it fails with `ERR_WS_BROKER_UNAVAILABLE`. Default 5000. */
  readonly commandTimeoutMs?: number;
  /**
   * Longest wait between two reconnection attempts, in milliseconds (50 ms doubling up to it as the
   * outage goes on, each attempt on the clock's next multiple: processes come back together). Default 1000.
   */
  readonly reconnectMaxDelayMs?: number;
  /**
   * Milliseconds between keep-alive PINGs on each connection. A PING not answered within
   * `commandTimeoutMs` means the connection is stalled: both connections are dropped and a new pair
   * is made, as when they are lost (so a stall is noticed within `pingIntervalMs +
   * commandTimeoutMs`). Default 5000. A Redis that closes idle connections (its `timeout`, read on
   * each connection) is pinged at least three times per `timeout`, so that it never closes them.
   */
  readonly pingIntervalMs?: number;
  /**
   * Payload bytes of live messages a topic holds at most while a read of its position or history
   * runs (with at most 10,000 messages); past it they are dropped and read back from history, and
   * what history no longer holds of them is skipped (`PubSub` emits `'gap'`). Default 4 MiB. Raise
   * it when history is small (`history.size`, `history.bytes`) and bursts are large: what is held
   * is this process's memory, per topic.
   */
  readonly maxHeldBytes?: number;
  /**
   * More options for node-redis's `createClient` (TLS, credentials…); `url` and the above win. A
   * `socket.signal` of the caller's closes the broker's connections when it aborts, and none is made
   * again (operations fail with ERR_WS_BROKER_UNAVAILABLE until `close()`).
   */
  readonly clientOptions?: Readonly<Record<string, unknown>>;
}

// The little of node-redis this file uses, declared here so that no type of the optional
// dependency reaches ws-stream's published declarations.
type RedisArg = string | Buffer;
type BufferListener = (message: Buffer, channel: Buffer) => void;
interface RedisClient {
  readonly isReady: boolean;
  connect(): Promise<unknown>;
  on(event: string, listener: (...args: never[]) => void): unknown;
  sendCommand(
    args: RedisArg[],
    options?: { typeMapping?: Record<number, unknown>; timeout?: number },
  ): Promise<unknown>;
  subscribe(channel: string, listener: BufferListener, bufferMode: true): Promise<void>;
  unsubscribe(channel: string, listener: BufferListener, bufferMode: true): Promise<void>;
  destroy(): void;
}
interface RedisModule {
  createClient(options: Record<string, unknown>): RedisClient;
  readonly RESP_TYPES: { readonly BLOB_STRING: number };
}

const defaults = {
  url: 'redis://127.0.0.1:6379',
  prefix: 'ws-stream:',
  commandTimeoutMs: 5000,
  reconnectMaxDelayMs: 1000,
  pingIntervalMs: 5000,
  maxHeldBytes: MAX_HELD_BYTES,
};

// Whether epoch `e` was made by another run of the Redis server than the one this script runs on:
// a new epoch (ARGV[1]) starts with the server's tag (`<hex>.`, see RedisBroker#serverTag), and
// one that does not was made before this server started. A server restarted from an RDB or AOF
// file may hold an older state than it acknowledged (the last snapshot, the last second): the same
// epoch would then give its offsets again to other messages. No tag (INFO not allowed): no check.
const fromAnotherRun = `
local tag = string.match(ARGV[1], '^(%x+)%.')
local function fromAnotherRun(e) return tag ~= nil and string.sub(e, 1, #tag + 1) ~= tag .. '.' end
`;

// KEYS: offset, epoch, history. ARGV: a new epoch. Creates the pair (and drops any history) unless
// both exist, made by this run of the server; leaves the epoch in `e`. Shared by every script.
const ensureEpoch = `${fromAnotherRun}
local o = redis.call('GET', KEYS[1])
local e = redis.call('GET', KEYS[2])
if not o or not e or fromAnotherRun(e) then
  e = ARGV[1]
  redis.call('SET', KEYS[2], e)
  redis.call('SET', KEYS[1], 0)
  redis.call('DEL', KEYS[3])
end
`;

// Drops the history entries older than ARGV[ttlArg] ms (0: no limit), oldest first; each entry's
// fields are d (payload), b (binary flag), t (Redis time in ms).
const trimExpired = (ttlArg: number): string => `
local ttl = tonumber(ARGV[${ttlArg}])
if ttl > 0 then
  local time = redis.call('TIME')
  local cutoff = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000) - ttl
  while true do
    local batch = redis.call('XRANGE', KEYS[3], '-', '+', 'COUNT', 100)
    local keep = nil
    for _, entry in ipairs(batch) do
      if tonumber(entry[2][6]) >= cutoff then keep = entry[1] break end
    end
    if keep then redis.call('XTRIM', KEYS[3], 'MINID', keep) break end
    if #batch < 100 then redis.call('DEL', KEYS[3]) break end
    local last = tonumber(string.match(batch[#batch][1], '^%d+'))
    redis.call('XTRIM', KEYS[3], 'MINID', string.format('%d', last + 1) .. '-0')
  end
end
`;

// Drops the history entries, oldest first, until what is left holds at most ARGV[bytesArg] payload
// bytes: each entry's field n counts the payload bytes of the stream up to and including it, so
// the entry to keep is the first that starts at or after the newest n minus the bound.
const trimBytes = (bytesArg: number): string => `
local floor = total - tonumber(ARGV[${bytesArg}])
while floor > 0 do
  local first = redis.call('XRANGE', KEYS[3], '-', '+', 'COUNT', 1)[1]
  if not first or tonumber(first[2][8] or '0') - #first[2][2] >= floor then break end
  local at = tonumber(string.match(first[1], '^%d+'))
  redis.call('XTRIM', KEYS[3], 'MINID', string.format('%d', at + 1) .. '-0')
end
`;

// KEYS: offset, epoch, history. ARGV: new epoch, payload, binary flag, history size, ttl ms, channel,
// history bytes, position ttl ms. Returns {offset, epoch}. A user refused PUBLISH (its ACL changed
// since the connection was checked) is refused before anything is written: a publication that
// fails is never delivered. A payload over the bytes bound is not kept, nor anything before it
// (history must lead up to the newest offset); with history size 0 nothing is kept, nor what a
// process keeping history left there (the history script would take it for a whole range). With
// ttl 0 the keys are made persistent: a process with a TTL sharing the topic must not expire them
// (a new epoch) while this one publishes.
const publishScript = `
if redis.acl_check_cmd and not redis.acl_check_cmd('PUBLISH', ARGV[6], '') then
  return redis.error_reply('NOPERM this user may not run PUBLISH on ' .. ARGV[6] .. ': nothing was published')
end
${ensureEpoch}
local offset = redis.call('INCR', KEYS[1])
local id = string.format('%d', offset)
local size = tonumber(ARGV[4])
if size == 0 or #ARGV[2] > tonumber(ARGV[7]) then
  redis.call('DEL', KEYS[3])
else
  local time = redis.call('TIME')
  local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  local newest = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)[1]
  local total = (newest and tonumber(newest[2][8] or '0') or 0) + #ARGV[2]
  redis.call('XADD', KEYS[3], 'MAXLEN', size, id .. '-0', 'd', ARGV[2], 'b', ARGV[3], 't', now, 'n', total)
  ${trimBytes(7)}
  ${trimExpired(5)}
end
if tonumber(ARGV[5]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[8])
  redis.call('PEXPIRE', KEYS[2], ARGV[8])
  redis.call('PEXPIRE', KEYS[3], ARGV[5])
else
  redis.call('PERSIST', KEYS[1])
  redis.call('PERSIST', KEYS[2])
  redis.call('PERSIST', KEYS[3])
end
redis.call('PUBLISH', ARGV[6], id .. ' ' .. ARGV[3] .. ' ' .. e .. '\\n' .. ARGV[2])
return {offset, e}
`;

// KEYS: offset, epoch, history. ARGV: new epoch, position ttl ms (0: none). Returns {offset, epoch}.
// A topic made here (subscribed before anything was published) expires as one published to does;
// with no ttl, the keys are made persistent (as by a publish).
const positionScript = `${ensureEpoch}
if tonumber(ARGV[2]) == 0 then
  redis.call('PERSIST', KEYS[1])
  redis.call('PERSIST', KEYS[2])
elseif redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return {tonumber(redis.call('GET', KEYS[1])), e}
`;

// KEYS: offset, epoch, history. ARGV: a new epoch (for its tag), since offset, since epoch, ttl ms,
// partial ('1' or '0'). Returns {0} when the history cannot cover (since, last] (with partial: only
// for another epoch, one of another run of the server, or an offset never reached), else
// {1, offset, flag, payload, ...}; with partial, {2, ...} holds what history still has of a range
// it no longer holds whole.
const historyScript = `${fromAnotherRun}
local o = tonumber(redis.call('GET', KEYS[1]))
local e = redis.call('GET', KEYS[2])
local since = tonumber(ARGV[2])
if not o or not e or e ~= ARGV[3] or fromAnotherRun(e) or since > o then return {0} end
if since == o then return {1} end
${trimExpired(4)}
local first = redis.call('XRANGE', KEYS[3], '-', '+', 'COUNT', 1)
local whole = #first > 0 and tonumber(string.match(first[1][1], '^%d+')) <= since + 1
if not whole and ARGV[5] ~= '1' then return {0} end
local out = {whole and 1 or 2}
for _, entry in ipairs(redis.call('XRANGE', KEYS[3], string.format('%d', since + 1) .. '-0', '+')) do
  out[#out + 1] = tonumber(string.match(entry[1], '^%d+'))
  out[#out + 1] = entry[2][4]
  out[#out + 1] = entry[2][2]
end
return out
`;

// KEYS: offset, epoch, history (of one topic). ARGV: its channel. Whether this connection's user
// may run every command the scripts and the subscriber run, on the keys and channel of a topic
// (the empty one): false, or {'denied' | 'unknown', command, what it was refused on}. Run once per
// connection, at connect: a user refused one of them mid-script would have the script stop
// half-way (an offset taken and stored, its PUBLISH refused), and a refused SUBSCRIBE would leave
// subscribers with nothing; refused at connect, the broker does not open and says why. (Before
// Redis 7, which has no acl_check_cmd, nothing is checked.)
const permissionScript = `
if not redis.acl_check_cmd then return false end
local o, e, h, ch = KEYS[1], KEYS[2], KEYS[3], ARGV[1]
local uses = {
  {'EVALSHA', '${'0'.repeat(40)}', '3', o, e, h}, {'GET', o}, {'SET', e, '0'}, {'INCR', o}, {'DEL', h}, {'TIME'},
  {'XREVRANGE', h, '+', '-', 'COUNT', '1'}, {'XADD', h, 'MAXLEN', '1', '1-0', 'd', ''},
  {'XRANGE', h, '-', '+', 'COUNT', '1'}, {'XTRIM', h, 'MINID', '1-0'},
  {'PEXPIRE', o, '1'}, {'PERSIST', o}, {'PTTL', o}, {'PUBLISH', ch, ''}, {'SUBSCRIBE', ch},
}
for _, use in ipairs(uses) do
  local known, allowed = pcall(redis.acl_check_cmd, unpack(use))
  if not known then return {'unknown', use[1], ''} end
  if not allowed then return {'denied', use[1], use[1] ~= 'EVALSHA' and use[2] or ''} end
end
return false
`;

interface Script {
  readonly source: string;
  readonly sha: string;
}
const script = (source: string): Script => ({ source, sha: createHash('sha1').update(source).digest('hex') });
const scripts = { publish: script(publishScript), position: script(positionScript), history: script(historyScript) };

/**
 * A subscribed topic on this process. Its messages reach `PubSub` along one path, in order: a live
 * message is delivered at once when nothing waits before it; otherwise it is held, behind a read of
 * the topic's position or history, and delivered after it.
 */
interface Subscription {
  /** What node-redis knows the subscription by. */
  readonly listener: BufferListener;
  /** The epoch of the topic as last seen ('' before it is known) and the last offset delivered in it. */
  epoch: string;
  last: number;
  /** Live messages received and not delivered yet, in order of arrival. */
  held: BrokerMessage[];
  /** Their payload bytes. */
  heldBytes: number;
  /** The position or history read that `held` waits for, while it runs. */
  reading: Promise<void> | null;
  /**
   * A connection was lost since the epoch was last checked: Redis may have restarted empty (a new
   * epoch whose first messages came while the channel was not subscribed). Nothing more is
   * delivered until the epoch is checked again.
   */
  recheck: boolean;
  /**
   * Live messages were dropped (more than `MAX_HELD` waited, or more than `maxHeldBytes` of
   * payload), or one came past a gap: the topic's history after `last` is read and delivered
   * before anything newer.
   */
  behind: boolean;
  /** How many times live messages were dropped (so a read knows whether it began after the last time). */
  drops: number;
  /**
   * History had nothing of what a gap lacked (trimmed, none kept; what it still had was delivered):
   * the next message is delivered whatever its offset (`PubSub` sees the gap), instead of reading again.
   */
  gapAccepted: boolean;
}

/**
 * With `history.ttlSeconds`, how much longer than the history a topic's offset and epoch keys are
 * kept after its last publication (renewed meanwhile on every process that subscribes it): a
 * topic quiet for less goes on from its offset; one nobody published to nor subscribed for longer
 * is gone, and starts again under a new epoch.
 */
const POSITION_LINGER_MS = 60_000;

/** Redis's default `proto-max-bulk-len`, and the least it can be set to (below it, no need to ask). */
const defaultMaxBulk = 512 * 1024 * 1024;
const minMaxBulk = 1024 * 1024;

/**
 * A number from a `CONFIG GET` reply: a flat array of names and values (RESP2), or a map (RESP3,
 * a plain object or a `Map` depending on node-redis's type mapping).
 */
function configValue(reply: unknown, name: string): number | undefined {
  let value: unknown;
  if (Array.isArray(reply)) {
    const i = reply.indexOf(name);
    if (i >= 0) value = reply[i + 1];
  } else if (reply instanceof Map) value = reply.get(name);
  else if (reply && typeof reply === 'object') value = (reply as Record<string, unknown>)[name];
  const n = Number(value);
  return value !== undefined && Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

export class RedisBroker implements Broker {
  readonly #options: Required<Omit<RedisBrokerOptions, 'clientOptions'>> & RedisBrokerOptions;
  #events: BrokerEvents | undefined;
  #history: HistoryOptions = { size: 0, ttlSeconds: 0 };
  /** `history.bytes`, or its default. */
  #bytes = 0;
  #commands: RedisClient | undefined;
  #subscriber: RedisClient | undefined;
  #bufferReplies: Record<number, unknown> = {};
  /** Subscribed topics. */
  readonly #topics = new Map<string, Subscription>();
  /** Channels left while the subscriber connection was lost: left again once it is back (`#leave`). */
  #leaving: { channel: string; listener: BufferListener }[] = [];
  /** This process's publications waiting for their own delivery here. */
  readonly #own = new OwnDeliveries();
  /** Bumped on each loss of a connection, so a recovery that outlived its connection gives up. */
  #generation = 0;
  /** Why the last attempt to make a pair was refused (credentials, an untrusted TLS certificate…), if it was. */
  #refusedBy: Error | null = null;
  /** `open()` failed, refused: the broker never opens. */
  #refused = false;
  /**
   * Redis refuses the broker since it opened (its password changed, its user disabled, while a
   * connection was made again): operations reject with this until a pair is accepted.
   */
  #lateRefusal: WebSocketError | null = null;
  /** The message of the refusal told last (`#tell`), until the broker is available again. */
  #told: string | null = null;
  /** How many refusals were met where no operation waits (so an ask knows whether one came meanwhile). */
  #refusals = 0;
  /** Both connections were ready once: from then on a lost connection is retried forever. */
  #opened = false;
  #available = false;
  #closed = false;
  /** Stops the background connection attempts while the first connection is not made. */
  #stopConnecting: (() => void) | undefined;
  /** Sends the keep-alive PINGs, from the first connection on. */
  #keepAlive: NodeJS.Timeout | undefined;
  /** Renews the expiry of the subscribed topics' offset and epoch keys (`#renewPositions`). */
  #renewing: NodeJS.Timeout | undefined;
  /** Connections with a keep-alive PING outstanding. */
  readonly #pinging = new Set<RedisClient>();
  /** Replies (to `#run`) and messages each connection brought, counted: see `#checkAlive`. */
  readonly #heard = new WeakMap<RedisClient, number>();
  /** The client module, once loaded. */
  #redis: RedisModule | undefined;
  /** Connections being made, not the broker's yet (closed by `close()`). */
  readonly #connecting = new Set<RedisClient>();
  /** What closes the sockets of each connection's pair, however late they connect (`#drop`). */
  readonly #pairSockets = new WeakMap<RedisClient, AbortController>();
  /** A stalled pair was dropped and a new one is being made. */
  #replacing = false;
  /** `askPort` runs after a reconnection of the pair failed (`#reconnectFailed`). */
  #probing = false;
  /**
   * The last attempt to make a pair failed without a refusal, and its port answered as Redis does
   * (`askPort`): the server is up, a refusal before still stands.
   */
  #answeredAfterFailure = false;
  /** Aborted by `close()`: ends the asks of the port (`askPort`) at once. */
  readonly #closing = new AbortController();
  /** Since when (performance.now()) the broker's pair has not been up, while node-redis reconnects it. */
  #downSince: number | undefined;
  /** The longest argument Redis takes (its `proto-max-bulk-len`), read on each connection. */
  #maxBulk = defaultMaxBulk;
  /** Milliseconds between keep-alive PINGs: `pingIntervalMs`, or less for Redis's `timeout`. */
  #pingEvery = 0;
  /** Settles when the connection's `CONFIG GET proto-max-bulk-len timeout` is answered (or gave up). */
  #maxBulkRead: Promise<void> | null = null;
  /**
   * The Redis server's run (the first 8 hex digits of its `run_id`, INFO server), read on each
   * connection before any script is sent on it: every new epoch starts with it (`<tag>.<random>`),
   * and the scripts start a new epoch for a topic whose epoch was made by another run (see
   * `fromAnotherRun`). Before, a Redis restarted from a snapshot older than what it had
   * acknowledged gave offsets 6–8 of the same epoch again to new messages: subscribers took them
   * for repeats (lost), and a `since` of 5 recovered the new ones as if they were the old.
   * '' when INFO is not allowed (renamed away, an ACL): no tag, no check.
   */
  #serverTag = '';
  /** Settles once this connection's `INFO server` is answered (or gave up); null once read. */
  #serverTagRead: Promise<void> | null = null;
  /**
   * Settles once the last publish that had to wait (for the limit) is sent: every later publish
   * waits behind it, so that one caller's publishes take offsets in the order it made them.
   */
  #publishGate: Promise<void> | null = null;

  constructor(urlOrOptions: string | RedisBrokerOptions = {}) {
    const options = brokerOptions<RedisBrokerOptions>('RedisBroker', urlOrOptions);
    this.#options = { ...defaults, ...options };
    let url: URL;
    try {
      url = new URL(this.#options.url);
    } catch {
      throw new WebSocketError(
        'ERR_WS_INVALID_ARGUMENT',
        `RedisBroker: not a URL: ${maskCredentials(this.#options.url)}`,
      );
    }
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
      throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', `RedisBroker: the URL must be redis:// or rediss://`);
    }
    // (node-redis decodes them in open(), and would throw a bare URIError there)
    urlCredentials(url, `RedisBroker: ${maskCredentials(this.#options.url)}`);
    for (const key of ['commandTimeoutMs', 'reconnectMaxDelayMs', 'pingIntervalMs'] as const) {
      const v = this.#options[key];
      if (!Number.isFinite(v) || v <= 0) {
        throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', `RedisBroker: ${key} must be a positive number`);
      }
    }
    checkMaxHeldBytes('RedisBroker', this.#options.maxHeldBytes);
  }

  async open(events: BrokerEvents, history: HistoryOptions): Promise<void> {
    if (this.#events) throw new WebSocketError('ERR_WS_INVALID_STATE', 'RedisBroker: already opened');
    this.#bytes = historyBytes(history);
    this.#events = events;
    this.#history = history;
    let redis: RedisModule;
    try {
      redis = (await import('redis')) as unknown as RedisModule;
    } catch (err) {
      throw unavailable("RedisBroker needs the optional peer dependency 'redis' (npm install redis)", err);
    }
    this.#bufferReplies = { [redis.RESP_TYPES.BLOB_STRING]: Buffer };
    this.#redis = redis;
    if (await this.#connect(redis)) {
      // Available from here on without a report: onAvailability tells only of changes.
      this.#available = true;
      this.#opened = true;
      this.#startKeepAlive();
      this.#updateAvailability();
      return;
    }
    // Redis refused the credentials (a wrong password or user), or its TLS certificate is not
    // trusted: retrying would never succeed, so open fails with the reason (never the password).
    if (this.#refusedBy) {
      this.#refused = true;
      throw this.#refusal(this.#refusedBy);
    }
    // Redis is down: open all the same (every operation fails with ERR_WS_BROKER_UNAVAILABLE
    // meanwhile) and connect in the background; `true` is reported once connected.
    emitAvailability(events, false);
    this.#stopConnecting = keepConnecting(async () => {
      if (this.#closed) return true;
      if (!(await this.#connect(redis))) return this.#refusedAgain();
      this.#opened = true;
      this.#startKeepAlive();
      this.#updateAvailability();
      return true;
    }, this.#options.reconnectMaxDelayMs);
  }

  /**
   * Makes both connections, and subscribes the new subscriber connection to every topic's channel
   * (when they replace a pair that stalled); then they are the broker's. False (neither left) when
   * either fails, does not answer within `commandTimeoutMs` (a server that takes the connection and
   * never replies would hold node-redis's handshake forever), or the broker closed meanwhile.
   */
  async #connect(redis: RedisModule): Promise<boolean> {
    const maxDelay = this.#options.reconnectMaxDelayMs;
    /** When the pair's connection was lost (node-redis counts its attempts from 0 again each time). */
    let lostAt = 0;
    // node-redis's destroy() closes the socket it holds, not one still connecting: that one would
    // connect later and stay open for good, unused (one or two a try while Redis's port drops
    // connections, as a stalled Redis's full backlog does). Each connection's sockets are made with
    // a signal of its own (cleared of node's listeners before each new socket: `forgetSockets`),
    // aborted when the pair is dropped, or when the caller's own `socket.signal` aborts: that
    // closes the broker's connections, and none is made again (node 20 connects a socket made with
    // an aborted signal all the same, and node-redis holds it until its connect timeout).
    const callerSignal = (this.#options.clientOptions?.socket as { signal?: unknown } | undefined)?.signal;
    if (callerSignal instanceof AbortSignal && callerSignal.aborted) return false;
    const sockets = new AbortController();
    if (callerSignal instanceof AbortSignal) abortWith(sockets, callerSignal);
    /** A connection of the pair, its sockets made with `signal` (see `forgetSockets`). */
    const connection = (signal: AbortSignal): RedisClient => {
      const client = redis.createClient({
        ...this.#options.clientOptions,
        url: this.#options.url,
        // A publish while Redis is away fails at once rather than waiting in a queue.
        disableOfflineQueue: true,
        socket: {
          ...(this.#options.clientOptions?.socket as object | undefined),
          signal,
          // A connection that fails before it is the broker's is tried again by `keepConnecting`
          // (node-redis's own wait would keep the process alive); one of the broker's pair is
          // retried forever with a capped backoff, until the pair is replaced or the broker closed,
          // on the clock's multiples: with waits from each process's own loss (a few ms apart),
          // a restarted Redis came up between two processes' tries, the second came back 200 ms
          // after the first, whose publishers had published more than history holds meanwhile.
          reconnectStrategy: (retries: number, cause: Error) => {
            if (this.#commands !== commands || this.#closed || sockets.signal.aborted) return cause;
            if (retries === 0) lostAt = Date.now();
            return reconnectDelay(Date.now() - lostAt, maxDelay);
          },
        },
      });
      // (Told before each socket node-redis makes again: the one before is gone, the next not made.)
      client.on('reconnecting', () => forgetSockets(signal));
      return client;
    };
    const connectionSockets = [new AbortController(), new AbortController()];
    for (const controller of connectionSockets) abortWith(controller, sockets.signal);
    const commands: RedisClient = connection(connectionSockets[0]!.signal);
    const subscriber = connection(connectionSockets[1]!.signal);
    const pair = [commands, subscriber];
    for (const client of pair) this.#pairSockets.set(client, sockets);
    for (const client of pair) this.#connecting.add(client);
    // Scripts are loaded first thing on each connection (before any EVALSHA of ours is written), so
    // that no EVALSHA meets NOSCRIPT: retrying one with EVAL would let later publishes overtake it.
    let loaded: Promise<unknown> | null = null;
    commands.on('ready', () => {
      const loads = Object.values(scripts).map(({ source }) => commands.sendCommand(['SCRIPT', 'LOAD', source]));
      for (const load of loads) load.catch(() => {});
      // Awaited only once both connections are up: a refusal (NOAUTH) that comes while the other
      // is still connecting must not be an unhandled rejection, which would end the process.
      if (loaded === null) {
        loaded = Promise.all(loads);
        loaded.catch(() => {});
      }
      // Scripts wait for it (#run): one sent with the last run's tag would go on in an epoch that
      // may have lost what it acknowledged.
      const info = commands.sendCommand(['INFO', 'server']);
      const tagRead: Promise<void> = withDeadline(info, this.#options.commandTimeoutMs, 'INFO server').then(
        (reply) => {
          if (this.#serverTagRead === tagRead) this.#serverTag = /run_id:([0-9a-f]{8})/.exec(String(reply))?.[1] ?? '';
        },
        () => {
          if (this.#serverTagRead === tagRead) this.#serverTag = '';
        },
      );
      this.#serverTagRead = tagRead;
      tagRead.then(() => {
        if (this.#serverTagRead === tagRead) this.#serverTagRead = null;
      });
      // (CONFIG may be renamed away: the defaults stay.)
      const config = commands.sendCommand(['CONFIG', 'GET', 'proto-max-bulk-len', 'timeout']);
      const read: Promise<void> = withDeadline(config, this.#options.commandTimeoutMs, 'CONFIG GET').then(
        (reply) => {
          this.#maxBulk = configValue(reply, 'proto-max-bulk-len') ?? defaultMaxBulk;
          // Redis closes a connection idle for longer than `timeout` seconds (0: never): pinged
          // more often, an idle broker's connections are never lost to it (each loss would be an
          // outage: publishes failing, every topic checked again).
          const idle = configValue(reply, 'timeout');
          this.#setPingEvery(Math.min(this.#options.pingIntervalMs, idle === undefined ? Infinity : (idle * 1000) / 3));
        },
        () => {},
      );
      this.#maxBulkRead = read;
      read.then(() => {
        if (this.#maxBulkRead === read) this.#maxBulkRead = null;
      });
    });
    /** What a server that is not Redis answered (an HTTP or NATS server, say): a refusal at open. */
    let notRedis: WrongServerError | undefined;
    /** The connections of the pair whose last attempt node-redis made was refused. */
    const refusing = new Set<RedisClient>();
    for (const client of pair) {
      // Every error of either connection is reported through availability, never thrown.
      const update = (): void => {
        if (this.#commands === commands) this.#updateAvailability();
      };
      client.on('error', (err: unknown) => {
        notRedis ??= this.#notRedis(err);
        // The broker's pair, as node-redis makes a connection again.
        if (this.#commands === commands && !this.#replacing) this.#reconnectFailed(client, err, refusing);
        update();
      });
      client.on('end', update);
      client.on('ready', update);
    }
    const ms = this.#options.commandTimeoutMs;
    try {
      await withDeadline(Promise.all([commands.connect(), subscriber.connect()]), ms, 'connect');
      // No password where Redis wants one (NOAUTH), or an ACL user without scripting (NOPERM): told
      // by the scripts' loading, so at open rather than at the first publish.
      if (loaded) await withDeadline(loaded, ms, 'SCRIPT LOAD');
      const check = ['EVAL', permissionScript, '3', ...this.#keys(''), this.#channel('')];
      const refused = await withDeadline(commands.sendCommand(check), ms, 'EVAL');
      if (Array.isArray(refused)) throw permissionRefusal(refused.map(String));
      const topics = [...this.#topics];
      const channels = topics.map(([topic, sub]) => subscriber.subscribe(this.#channel(topic), sub.listener, true));
      await withDeadline(Promise.all(channels), ms, 'SUBSCRIBE');
      if (!this.#closed) {
        this.#commands = commands;
        this.#subscriber = subscriber;
        this.#leaving = []; // (the old connection's: this one subscribed only the topics kept)
        // (A topic left while its channel was being subscribed here is left now.)
        for (const [topic, sub] of topics) {
          if (this.#topics.get(topic) !== sub) {
            subscriber.unsubscribe(this.#channel(topic), sub.listener, true).catch(() => {});
          }
        }
        return true;
      }
    } catch (err) {
      // (tried again by `keepConnecting`, unless refused at `open`)
      this.#refusedBy = refusal(err) ? (err as Error) : (notRedis ?? null);
      this.#answeredAfterFailure = false;
      if (this.#refusedBy === null && !this.#closed) {
        // (`open()` waits for it, a second at most; while refused, its whole time to answer: a
        // probe that gave up on a loaded machine would end the refusal.)
        const standing = this.#lateRefusal !== null;
        const background = this.#stopConnecting !== undefined;
        const answer = await askPort(
          this.#options.url,
          standing ? ms : Math.min(ms, 1000),
          this.#closing.signal,
          background,
        );
        if (answer instanceof WrongServerError) this.#refusedBy = answer;
        else this.#answeredAfterFailure = answer === 'up';
      }
    } finally {
      for (const client of pair) this.#connecting.delete(client);
    }
    for (const client of pair) this.#drop(client);
    return false;
  }

  /**
   * Replaces a stalled pair of connections (a keep-alive PING unanswered, or a reconnection that
   * got no answer): both are dropped (their pending commands reject, the broker reports
   * unavailable) and a new pair is made in the background, as when the broker opened while Redis
   * was down; once it is up, with every topic's channel, the topics recover as after any loss.
   */
  #replace(): void {
    if (this.#closed || this.#replacing) return;
    this.#replacing = true;
    for (const client of [this.#commands, this.#subscriber]) if (client) this.#drop(client);
    this.#updateAvailability();
    this.#stopConnecting = keepConnecting(async () => {
      if (this.#closed) return true;
      if (!(await this.#connect(this.#redis!))) return this.#refusedAgain();
      this.#replacing = false;
      this.#updateAvailability();
      return true;
    }, this.#options.reconnectMaxDelayMs);
  }

  publish(topic: string, data: Buffer, binary: boolean): Promise<TopicPosition> {
    // A message that may be over the limit waits while the limit is being read; any publish made
    // after one that waits, waits behind it.
    const gate = this.#publishGate ?? (data.length > minMaxBulk ? this.#maxBulkRead : null);
    if (!gate) return this.#publish(topic, data, binary);
    let sent!: Promise<TopicPosition>;
    const next = gate.then(() => {
      sent = this.#publish(topic, data, binary);
    });
    this.#publishGate = next;
    next.then(() => {
      if (this.#publishGate === next) this.#publishGate = null;
    });
    return next.then(() => sent);
  }

  /** Sends a publish now (its offset is decided in the order of these calls). */
  async #publish(topic: string, data: Buffer, binary: boolean): Promise<TopicPosition> {
    // Redis drops the connection of a command with a longer argument (a protocol error).
    if (data.length > this.#maxBulk) {
      throw new WebSocketError(
        'ERR_WS_MESSAGE_TOO_BIG',
        `${data.length} bytes: over Redis's proto-max-bulk-len (${this.#maxBulk} bytes)`,
      );
    }
    const reply = (await this.#run(
      scripts.publish,
      topic,
      [
        data,
        binary ? '1' : '0',
        String(this.#history.size),
        String(this.#ttlMs()),
        this.#channel(topic),
        String(this.#bytes),
        String(this.#positionTtlMs()),
      ],
      'while the publish was in flight: the message may have been stored',
      ': the message was not stored',
      ': the message may have been stored',
    )) as [number, Buffer];
    const at = { offset: reply[0], epoch: reply[1].toString() };
    // Subscribed here: settled once this process delivered it (see OwnDeliveries).
    const sub = this.#topics.get(topic);
    if (sub !== undefined && !(sub.epoch === at.epoch && sub.last >= at.offset)) {
      await this.#own.wait(topic, at, this.#options.commandTimeoutMs);
    }
    return at;
  }

  async subscribe(topic: string): Promise<void> {
    if (this.#topics.has(topic)) return;
    const subscriber = this.#live();
    const sub: Subscription = {
      listener: (message) => this.#receive(topic, sub, message),
      epoch: '',
      last: 0,
      held: [],
      heldBytes: 0,
      reading: null,
      recheck: false,
      behind: false,
      drops: 0,
      gapAccepted: false,
    };
    this.#topics.set(topic, sub);
    const channel = this.#channel(topic);
    try {
      // (A stalled connection would never answer.)
      await withDeadline(
        subscriber.subscribe(channel, sub.listener, true),
        this.#options.commandTimeoutMs,
        'SUBSCRIBE',
      );
    } catch (err) {
      if (this.#topics.get(topic) === sub) {
        this.#topics.delete(topic);
        this.#own.release(topic); // publishes waiting for a delivery that will not come here
      }
      // If it is answered after all, its listener ignores what comes (the topic is not this
      // `sub`'s), and the channel is left right after: node-redis would otherwise keep it, and
      // subscribe it again on every reconnection.
      subscriber.unsubscribe(channel, sub.listener, true).catch(() => {});
      // (Sent while up: #live. Lost before its answer, the loss is told.)
      const lost = !(err instanceof DeadlineError) && !subscriber.isReady;
      const failure = this.#failure(err, subscriber, 'while the topic was subscribed to');
      if (failure.code === 'ERR_WS_BROKER_REFUSED' || lost) throw failure;
      throw unavailable(`cannot subscribe to ${topic}`, err);
    }
  }

  async unsubscribe(topic: string): Promise<void> {
    const sub = this.#topics.get(topic);
    const subscriber = this.#subscriber;
    if (!sub || !subscriber) return;
    this.#topics.delete(topic);
    this.#own.release(topic);
    // Delivery stops now (#receive checks #topics). Waited for only while connected: it settles at
    // the loss, or once back (node-redis sends it after subscribing every channel again).
    const done = this.#leave(subscriber, this.#channel(topic), sub.listener);
    if (subscriber.isReady) await done;
  }

  /**
   * Unsubscribes `listener` from `channel`. node-redis forgets the listener only once Redis
   * confirms: an UNSUBSCRIBE failed by a lost connection (in flight then, or sent while down and
   * failed by a reconnection attempt) leaves it, and the reconnection subscribed the channel again,
   * its messages coming to this process for ever. So it is sent again once the pair is back.
   */
  async #leave(subscriber: RedisClient, channel: string, listener: BufferListener): Promise<void> {
    try {
      await subscriber.unsubscribe(channel, listener, true);
    } catch {
      if (subscriber === this.#subscriber && !this.#closed) this.#leaving.push({ channel, listener });
    }
  }

  async position(topic: string): Promise<TopicPosition> {
    const reply = (await this.#run(
      scripts.position,
      topic,
      [String(this.#positionTtlMs())],
      "while the topic's position was read",
    )) as [number, Buffer];
    const at = { offset: reply[0], epoch: reply[1].toString() };
    // A topic subscribed before this read, no message delivered yet, starts from here (PubSub reads
    // the position of each topic it subscribes): a later change of epoch is seen and its start
    // caught up, and a later gap is filled from history.
    const sub = this.#topics.get(topic);
    if (sub?.epoch === '') {
      sub.epoch = at.epoch;
      sub.last = at.offset;
      this.#own.reached(topic, at.epoch, at.offset);
    }
    return at;
  }

  async history(topic: string, since: TopicPosition): Promise<BrokerMessage[] | null> {
    return (await this.#historyAfter(topic, since, false))?.messages ?? null;
  }

  /**
   * The topic's stored messages after `since.offset`, and whether they are all of them; null for
   * another epoch, an offset it never reached, no history kept (but a `since` at the newest offset), or (unless `partial`) a range
   * history no longer holds whole. With `partial`, what history still holds of that range: a gap
   * is filled with what history still has, only the older messages are lost (doc/pubsub.md).
   */
  async #historyAfter(
    topic: string,
    since: TopicPosition,
    partial: boolean,
  ): Promise<{ messages: BrokerMessage[]; whole: boolean } | null> {
    // (With history size 0 the script still answers a `since` at the newest offset: nothing missed.)
    if ((this.#history.size === 0 && partial) || !Number.isSafeInteger(since.offset) || since.offset < 0) return null;
    const reply = (await this.#run(
      scripts.history,
      topic,
      [String(since.offset), since.epoch, String(this.#ttlMs()), partial ? '1' : '0'],
      "while the topic's history was read",
    )) as (number | Buffer)[];
    if (reply[0] === 0) return null;
    const messages: BrokerMessage[] = [];
    for (let i = 1; i < reply.length; i += 3) {
      const offset = reply[i] as number;
      const binary = (reply[i + 1] as Buffer)[0] === 0x31;
      messages.push({ topic, offset, epoch: since.epoch, data: reply[i + 2] as Buffer, binary });
    }
    return { messages, whole: reply[0] === 1 };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.abort();
    this.#own.release();
    this.#stopConnecting?.();
    clearInterval(this.#keepAlive);
    clearInterval(this.#renewing);
    this.#topics.clear();
    for (const client of [this.#commands, this.#subscriber, ...this.#connecting]) if (client) this.#drop(client);
  }

  /** Closes a connection for good: its socket, and one it is still making (see `#connect`). */
  #drop(client: RedisClient): void {
    try {
      client.destroy();
    } catch {
      // already closed
    }
    // (After destroy(): a socket that ends now is no loss node-redis would make again.)
    this.#pairSockets.get(client)?.abort();
  }

  #startKeepAlive(): void {
    clearInterval(this.#keepAlive);
    this.#keepAlive = setInterval(() => this.#checkAlive(), this.#pingEvery || this.#options.pingIntervalMs);
    this.#keepAlive.unref();
    clearInterval(this.#renewing);
    this.#renewing = setInterval(() => this.#renewPositions(), POSITION_LINGER_MS / 3);
    this.#renewing.unref();
  }

  /** Sends the keep-alive PINGs every `ms` from now on (once they have started). */
  #setPingEvery(ms: number): void {
    if (ms === this.#pingEvery) return;
    this.#pingEvery = ms;
    if (this.#keepAlive === undefined || this.#closed) return;
    clearInterval(this.#keepAlive);
    this.#keepAlive = setInterval(() => this.#checkAlive(), ms);
    this.#keepAlive.unref();
  }

  /**
   * A keep-alive PING on each connection, unless one is outstanding. One not answered within
   * `commandTimeoutMs` while the connection looks up means it is stalled (the socket open, no byte
   * coming back): the pair is replaced. (node-redis's own `pingInterval` has no deadline, and its
   * `socketTimeout` counts bytes written, which a publisher keeps writing into a stalled socket.)
   * A pair that node-redis has been reconnecting for longer than a connection may take (its
   * handshake waits for a reply with no deadline) is replaced too. A PING that waited while
   * replies or messages kept coming on its connection was queued behind them: the connection is
   * busy, not stalled (ten `serve` clients publishing 32 messages of 4 MB each at once had the
   * link replaced, an outage for every client of the process), and the next PING asks again.
   */
  #checkAlive(): void {
    if (this.#closed || this.#replacing) return;
    const pair = [this.#commands, this.#subscriber];
    if (pair.every((client) => client?.isReady)) {
      this.#downSince = undefined;
    } else {
      const now = performance.now();
      this.#downSince ??= now;
      if (now - this.#downSince > this.#options.commandTimeoutMs + this.#options.reconnectMaxDelayMs) {
        this.#downSince = undefined;
        this.#replace();
        return;
      }
    }
    for (const client of pair) {
      if (!client?.isReady || this.#pinging.has(client)) continue;
      this.#pinging.add(client);
      const heard = this.#heard.get(client);
      withDeadline(client.sendCommand(['PING']), this.#options.commandTimeoutMs, 'PING')
        .catch((err) => {
          if (err instanceof DeadlineError && (client === this.#commands || client === this.#subscriber)) {
            if (this.#heard.get(client) !== heard) return; // busy: answers came while it waited
            this.#replace();
          }
        })
        .finally(() => this.#pinging.delete(client));
    }
  }

  #ttlMs(): number {
    return Math.round(this.#history.ttlSeconds * 1000);
  }

  /** How long a topic's offset and epoch keys outlive its last publication (0: for ever). */
  #positionTtlMs(): number {
    const ttl = this.#ttlMs();
    return ttl > 0 ? ttl + POSITION_LINGER_MS : 0;
  }

  /**
   * Keeps the offset and epoch keys of the topics subscribed here from expiring, so that a topic
   * goes on from its offset, in its epoch, however long it stays quiet while someone listens.
   */
  #renewPositions(): void {
    const commands = this.#commands;
    const ms = String(this.#positionTtlMs());
    if (!commands?.isReady || ms === '0') return;
    for (const topic of this.#topics.keys()) {
      const [o, e] = this.#keys(topic);
      for (const key of [o!, e!]) commands.sendCommand(['PEXPIRE', key, ms]).catch(() => {});
    }
  }

  /** Why an operation cannot run before the first connection is made. */
  #notConnected(): WebSocketError {
    if (!this.#events || this.#refused) return unavailable('the broker is not open');
    return this.#lateRefusal ?? unavailable(`not connected to ${maskCredentials(this.#options.url)} yet`);
  }

  /** `err`, a refusal of a connection, as ERR_WS_BROKER_REFUSED (never the password). */
  #refusal(err: Error): WebSocketError {
    const what = err instanceof WrongServerError ? '' : 'Redis refused the connection: ';
    return refused(`RedisBroker: ${what}${err.message}`, err);
  }

  /**
   * After an attempt to make a pair failed in the background: whether to stop trying (the broker
   * closed). Refused, it is told (`onRefused`), and tried again all the same: Redis may be put right.
   * Not refused and Redis not answering (down, silent), it is an outage, whatever refused before;
   * Redis answering its port, one attempt was lost on the way: a refusal before goes on.
   */
  #refusedAgain(): boolean {
    if (this.#closed) return true;
    if (this.#refusedBy) this.#refusedLate(this.#refusedBy);
    else if (!this.#answeredAfterFailure) this.#refusalEnded();
    return false;
  }

  /**
   * A connection of the broker's pair (`client`) failed with `err` as node-redis made it again: a
   * refusal (a password changed, a server that is not Redis), or not. Not refused while the other
   * connection is not either, the port is asked (`askPort`) unless nothing listens there, as
   * node-redis does not tell why: Redis answering it is up (one attempt lost on the way: a refusal
   * before goes on, the next attempt tells); speaking the other of plain TCP and TLS (Redis
   * restarted with or without TLS), a refusal; nothing, an outage, any refusal before over, told
   * as such (ERR_WS_BROKER_UNAVAILABLE).
   */
  #reconnectFailed(client: RedisClient, err: unknown, refusing: Set<RedisClient>): void {
    const refusedBy = refusal(err) ? (err as Error) : this.#notRedis(err);
    if (refusedBy) {
      refusing.add(client);
      this.#refusedLate(refusedBy);
      return;
    }
    refusing.delete(client);
    // (The first error of a loss comes while still available: the loss itself, nothing to ask.)
    if (this.#available || refusing.size > 0) return;
    if (unreachable(err)) return this.#refusalEnded();
    if (this.#probing) return;
    this.#probing = true;
    const commands = this.#commands;
    const refusals = this.#refusals;
    // (Its whole time to answer: a probe that gave up on a loaded machine would end the refusal.)
    void askPort(this.#options.url, this.#options.commandTimeoutMs, this.#closing.signal, true).then((answer) => {
      this.#probing = false;
      if (this.#closed || this.#available || this.#replacing || this.#commands !== commands) return;
      if (answer instanceof WrongServerError) this.#refusedLate(answer);
      // (A refusal met since the ask began is newer than its answer: a server back up, refusing.)
      else if (answer === null && refusing.size === 0 && this.#refusals === refusals) this.#refusalEnded();
    });
  }

  /** What `err` is when the server answered in another protocol than Redis's: a refusal. */
  #notRedis(err: unknown): WrongServerError | undefined {
    if (!(err instanceof Error) || !/^Unknown RESP type/.test(err.message)) return undefined;
    return new WrongServerError(
      `${maskCredentials(this.#options.url)} is not a Redis server: it answered in another protocol (${err.message})`,
      { cause: err },
    );
  }

  /** Redis no longer refuses (it cannot be reached): operations reject as in an outage, and a refusal after is told. */
  #refusalEnded(): void {
    this.#lateRefusal = null;
    this.#told = null;
  }

  /** Redis refuses the broker (`err`) where no operation waits: told once per reason, operations reject with it. */
  #refusedLate(err: Error): void {
    this.#refusals++;
    this.#lateRefusal = this.#refusal(err);
    this.#tell(this.#lateRefusal);
  }

  /** A refusal met in the background (`onRefused`), unless it is the one told last since the broker was available. */
  #tell(err: unknown): void {
    if (!isRefusal(err) || err.message === this.#told) return;
    this.#told = err.message;
    emitRefused(this.#events!, err);
  }

  /**
   * What an operation whose command failed with `err` rejects with; `during`: what the command was
   * doing, if it was sent while the connection was up (told when the connection was lost before
   * its answer: node-redis fails what waits at the loss).
   */
  #failure(err: unknown, commands: RedisClient, during?: string): WebSocketError {
    // Refused by Redis: the user's ACL (changed since the connection was checked), also met by a
    // command of a script (Redis 7.0 tells it as "ERR The user executing the script can't run…").
    if (
      err instanceof Error &&
      /^(NOPERM|NOAUTH|WRONGPASS)\b|^ERR The user executing the script can't/.test(err.message)
    ) {
      return refused(err.message, err);
    }
    if (during !== undefined && !(err instanceof DeadlineError) && !commands.isReady) {
      return unavailable(`the connection was lost ${during}`, err);
    }
    // (Offline: refused while reconnecting, or down.)
    if (this.#lateRefusal && !commands.isReady) return this.#lateRefusal;
    return unavailable(errorText(err), err);
  }

  #channel(topic: string): string {
    return this.#options.prefix + topic;
  }

  #keys(topic: string): string[] {
    const base = `${this.#options.prefix}{${topic}}`;
    return [`${base}:o`, `${base}:e`, `${base}:h`];
  }

  #live(): RedisClient {
    if (this.#closed) throw unavailable('the broker is closed');
    const subscriber = this.#subscriber;
    if (!subscriber || !this.#commands) throw this.#notConnected();
    if (!subscriber.isReady || this.#replacing) {
      throw this.#lateRefusal ?? unavailable(`no connection to ${maskCredentials(this.#options.url)}`);
    }
    return subscriber;
  }

  /**
   * Runs a script by its SHA (loaded on connection), sending its source if Redis forgot it (SCRIPT
   * FLUSH), failing after `commandTimeoutMs`: node-redis's own `timeout` ends only the wait to be
   * written, so a command a hung server never answers would wait forever. `during`: what the
   * command does, told if the connection is lost before its answer; `unsent`, what to tell when there
   * is no connection to send it on; `unanswered`, what to tell when its answer does not come in
   * time (Redis may still run it: a slow script, a server busy or paused, a link that stalls).
   */
  async #run(
    s: Script,
    topic: string,
    args: RedisArg[],
    during: string,
    unsent = '',
    unanswered = '',
  ): Promise<unknown> {
    if (this.#serverTagRead !== null) await this.#serverTagRead;
    if (this.#closed) throw unavailable('the broker is closed');
    const commands = this.#commands;
    if (!commands) throw this.#notConnected();
    // (node-redis would refuse it, "The client is offline": it is never sent.)
    if (!commands.isReady) {
      throw this.#lateRefusal ?? unavailable(`no connection to ${maskCredentials(this.#options.url)}${unsent}`);
    }
    const keys = this.#keys(topic);
    const epoch = randomBytes(12).toString('base64url');
    const rest = ['3', ...keys, this.#serverTag === '' ? epoch : `${this.#serverTag}.${epoch}`, ...args];
    const ms = this.#options.commandTimeoutMs;
    const options = { typeMapping: this.#bufferReplies, timeout: ms };
    const answered = <T>(reply: T): T => {
      this.#heard.set(commands, (this.#heard.get(commands) ?? 0) + 1);
      return reply;
    };
    const send = async (): Promise<unknown> => {
      try {
        return answered(await commands.sendCommand(['EVALSHA', s.sha, ...rest], options));
      } catch (err) {
        if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
        return answered(await commands.sendCommand(['EVAL', s.source, ...answered(rest)], options));
      }
    };
    try {
      return await withDeadline(send(), ms, 'Redis');
    } catch (err) {
      // (node-redis's own timeout, a command that waited that long to be sent, has no message.)
      throw this.#failure(
        err instanceof Error && err.message === ''
          ? new Error(`Redis: not sent within ${ms} ms`, { cause: err })
          : err instanceof DeadlineError
            ? new DeadlineError(`${err.message}${unanswered}`, { cause: err })
            : err,
        commands,
        during,
      );
    }
  }

  #receive(topic: string, sub: Subscription, message: Buffer): void {
    const subscriber = this.#subscriber;
    if (subscriber) this.#heard.set(subscriber, (this.#heard.get(subscriber) ?? 0) + 1);
    if (this.#topics.get(topic) !== sub) return;
    const newline = message.indexOf(0x0a);
    const [offset, flag, epoch] = message.toString('latin1', 0, newline).split(' ');
    const m: BrokerMessage = {
      topic,
      offset: Number(offset),
      epoch: epoch!,
      data: message.subarray(newline + 1),
      binary: flag === '1',
    };
    const waiting = sub.held.length > 0 || sub.reading !== null || sub.recheck || sub.behind;
    if (!waiting && (sub.epoch === '' || (m.epoch === sub.epoch && (m.offset <= sub.last + 1 || sub.gapAccepted)))) {
      this.#deliver(sub, m);
      return;
    }
    sub.held.push(m);
    sub.heldBytes += m.data.length;
    if (sub.held.length > MAX_HELD || sub.heldBytes > this.#options.maxHeldBytes) {
      sub.held = [];
      sub.heldBytes = 0;
      sub.behind = true;
      sub.drops++;
    }
    this.#drain(topic, sub);
  }

  /**
   * Delivers what `sub` holds, in order, up to the first message that must wait: while the epoch is
   * to be checked again, before the first message of another epoch (its epoch's start is read
   * from history first, so that offsets 1, 2… of a new epoch arrive in order, whichever of history
   * and live delivery brings each), and after a gap or dropped messages (`behind`): those are read
   * from history first. A read needs the broker available: until then, messages wait.
   */
  #drain(topic: string, sub: Subscription): void {
    let i = 0;
    while (sub.reading === null && this.#topics.get(topic) === sub) {
      if (sub.recheck) {
        if (this.#available) sub.reading = this.#read(topic, sub, null);
        break;
      }
      if (sub.behind) {
        if (this.#available) sub.reading = this.#catchUp(topic, sub);
        break;
      }
      const m = sub.held[i];
      if (m === undefined) break;
      if (sub.epoch !== '' && m.epoch !== sub.epoch) {
        if (this.#available) sub.reading = this.#read(topic, sub, m.epoch);
        break;
      }
      if (sub.epoch !== '' && m.offset > sub.last + 1 && !sub.gapAccepted) {
        sub.behind = true;
        continue;
      }
      i++;
      this.#deliver(sub, m);
    }
    if (i > 0) {
      sub.held.splice(0, i);
      sub.heldBytes = payloadBytes(sub.held);
    }
  }

  /**
   * Reads what `sub` waits for: the topic's epoch now (`epoch` null, after a lost connection) and
   * the messages `sub` lacks: another epoch's from its start (`PubSub` could not ask for them, it
   * knows only the old epoch), or, in the same epoch after a lost connection, those published
   * while it was away. Delivers them, then drains `sub`.
   */
  async #read(topic: string, sub: Subscription, epoch: string | null): Promise<void> {
    const generation = this.#generation;
    const known = sub.epoch !== '';
    let target = epoch;
    let read: { messages: BrokerMessage[]; whole: boolean } | null = null;
    let drops = -1;
    for (let attempt = 0; ; attempt++) {
      try {
        target = epoch ?? (await this.position(topic)).epoch;
        drops = sub.drops;
        if (known && target !== sub.epoch) read = await this.#historyAfter(topic, { offset: 0, epoch: target }, true);
        else if (known && epoch === null)
          read = await this.#historyAfter(topic, { offset: sub.last, epoch: target }, true);
        else {
          read = { messages: [], whole: true };
          drops = -1;
        }
        if (read !== null) await this.#heardUpTo(read);
        break;
      } catch (err) {
        this.#tell(err); // (refused: a user's ACL changed; tried again all the same, and told once)
        if (!(await this.#again(generation, topic, sub, attempt))) return;
      }
    }
    sub.reading = null;
    if (this.#topics.get(topic) !== sub) return;
    if (epoch === null && generation === this.#generation) sub.recheck = false;
    if (target !== sub.epoch) {
      // What came live in the old epoch came before anything of the new one.
      const old = sub.held.filter((m) => m.epoch === sub.epoch);
      if (old.length > 0) {
        sub.held = sub.held.filter((m) => m.epoch !== sub.epoch);
        sub.heldBytes = payloadBytes(sub.held);
      }
      for (const m of old) this.#deliver(sub, m);
      sub.epoch = target;
      sub.last = 0;
    }
    // A history read sent after the last drop holds what was dropped (or what history still has of it).
    if (read !== null && sub.drops === drops) sub.behind = false;
    if (read !== null) this.#deliverRead(sub, read);
    // What history no longer holds is lost for good: what follows is taken as it comes.
    if (read === null || (!read.whole && read.messages.length === 0)) sub.gapAccepted = true;
    this.#drain(topic, sub);
  }

  /**
   * Reads and delivers the history of `sub` after its last offset (live messages were dropped
   * meanwhile, or one came past a gap), then drains it. What history no longer holds is lost:
   * `PubSub` sees the gap.
   */
  async #catchUp(topic: string, sub: Subscription): Promise<void> {
    const generation = this.#generation;
    let missed: { messages: BrokerMessage[]; whole: boolean } | null = null;
    for (let attempt = 0; ; attempt++) {
      try {
        missed = await this.#historyAfter(topic, { offset: sub.last, epoch: sub.epoch }, true);
        if (missed !== null) await this.#heardUpTo(missed);
        break;
      } catch (err) {
        this.#tell(err); // (refused: a user's ACL changed; tried again all the same, and told once)
        if (!(await this.#again(generation, topic, sub, attempt))) return;
      }
    }
    sub.reading = null;
    if (this.#topics.get(topic) !== sub) return;
    sub.behind = false;
    if (missed !== null) this.#deliverRead(sub, missed);
    if (missed === null || (!missed.whole && missed.messages.length === 0)) sub.gapAccepted = true;
    this.#drain(topic, sub);
  }

  /**
   * Delivers what a history read of `sub` found after its last offset, in its epoch. A read that
   * no longer had the whole range (trimmed) lacks its oldest offsets, which this process may still
   * hold, received live while the read ran: those go first, in offset order, so that only what
   * neither history nor memory has is lost (`PubSub` sees the gap). Before, they came after the
   * read's newer offsets and passed for repeats: lost. (What was dropped for the bounds is not
   * held: there history alone counts. Held ones of another epoch, or past the read, wait for
   * `#drain`: a hole past the read may still be in history.)
   */
  #deliverRead(sub: Subscription, read: { messages: BrokerMessage[]; whole: boolean }): void {
    const first = read.messages[0]?.offset;
    if (!read.whole && first !== undefined) {
      const trimmed = (m: BrokerMessage): boolean => m.epoch === sub.epoch && m.offset < first;
      const older = sub.held.filter(trimmed);
      if (older.length > 0) {
        sub.held = sub.held.filter((m) => !trimmed(m));
        sub.heldBytes = payloadBytes(sub.held);
        for (const m of older) this.#deliver(sub, m);
      }
    }
    for (const m of read.messages) this.#deliver(sub, m);
  }

  /**
   * After a history read that history no longer held whole, and found some of: resolves once the
   * subscriber connection has brought every message Redis sent it before the read ran (a PING
   * there is answered after them), so that the live ones the read lacks are held by then
   * (`#deliverRead`), not on their way, to be taken for repeats once the read's newer ones are
   * delivered. Rejects as a read does (unavailable after `commandTimeoutMs`).
   */
  async #heardUpTo(read: { messages: BrokerMessage[]; whole: boolean }): Promise<void> {
    if (read.whole || read.messages.length === 0) return;
    const subscriber = this.#live();
    try {
      await withDeadline(subscriber.sendCommand(['PING']), this.#options.commandTimeoutMs, 'PING');
    } catch (err) {
      throw this.#failure(err, subscriber);
    }
  }

  /**
   * After a failed read of `sub`: whether to make it again. While the connections stay (a command
   * timed out, an error reply), yes, after a pause: going on without it would skip or reorder
   * messages. Not once the topic is gone or a connection was lost since the read began: then the
   * read is made again once back, by the reconnection, which drains every topic, or here if the
   * reconnection came first (it skipped `sub`, whose read was still running).
   */
  async #again(generation: number, topic: string, sub: Subscription, attempt: number): Promise<boolean> {
    const stays = (): boolean =>
      this.#topics.get(topic) === sub && !this.#closed && generation === this.#generation && this.#available;
    if (stays()) {
      await retryPause(attempt, this.#options.reconnectMaxDelayMs);
      if (stays()) return true;
    }
    sub.reading = null;
    if (this.#topics.get(topic) === sub && !this.#closed && this.#available) this.#drain(topic, sub);
    return false;
  }

  #deliver(sub: Subscription, m: BrokerMessage): void {
    // Once only (a message can be both read from history and received live).
    if (m.epoch === sub.epoch && m.offset <= sub.last) return;
    sub.epoch = m.epoch;
    sub.last = m.offset;
    sub.gapAccepted = false;
    emitMessage(this.#events!, m);
    this.#own.delivered(m);
  }

  #updateAvailability(): void {
    if (!this.#opened || this.#closed) return;
    const available = !this.#replacing && !!this.#commands?.isReady && !!this.#subscriber?.isReady;
    if (available === this.#available) return;
    this.#available = available;
    if (available) {
      this.#lateRefusal = null;
      this.#told = null;
      // (Before the report: an UNSUBSCRIBE sent now goes before any SUBSCRIBE it brings.)
      const leaving = this.#leaving;
      this.#leaving = [];
      for (const { channel, listener } of leaving) void this.#leave(this.#subscriber!, channel, listener);
    }
    if (!available) {
      this.#own.release();
      this.#generation++;
      for (const sub of this.#topics.values()) sub.recheck = true;
      emitAvailability(this.#events!, false);
    } else {
      void this.#recover(this.#generation);
    }
  }

  /**
   * Back after a loss, every channel subscribed again by node-redis: each topic checks its epoch
   * (delivering what a new epoch holds so far, which `PubSub` could not ask for: it knows only the
   * old epoch) and what it held meanwhile; then available. A topic in the same epoch is caught up
   * by `PubSub` from history, after the report.
   */
  async #recover(generation: number): Promise<void> {
    for (const [topic, sub] of this.#topics) this.#drain(topic, sub);
    for (;;) {
      const reads = [...this.#topics.values()].flatMap((sub) => (sub.reading ? [sub.reading] : []));
      if (reads.length === 0 || generation !== this.#generation) break;
      await Promise.all(reads);
    }
    if (generation === this.#generation && this.#available && !this.#closed) emitAvailability(this.#events!, true);
  }
}

/** A command the broker needs that this Redis does not let it run (ACL, rename-command): a refusal at open. */
class CommandRefusedError extends Error {
  override name = 'CommandRefusedError';
}

/** What `permissionScript` found refused, told. */
function permissionRefusal([kind, command, on]: string[]): CommandRefusedError {
  if (kind === 'unknown') {
    return new CommandRefusedError(
      `${command} is not a command of this Redis (renamed or disabled): the broker needs it`,
    );
  }
  return new CommandRefusedError(
    `NOPERM this user may not run ${command}${on ? ` on ${on}` : ''}: the broker needs it (see its ACL in doc/pubsub.md)`,
  );
}

/**
 * The server at the broker's URL is not what the URL says: it answered with something no Redis
 * reply is (it is not Redis), or it speaks plain Redis where the URL says TLS, or the reverse.
 */
class WrongServerError extends Error {
  override name = 'WrongServerError';
}

/**
 * What the port of a Redis URL said when asked directly (`askPort`): 'up', Redis answering in the
 * URL's own protocol; a WrongServerError, a server speaking the other of plain TCP and TLS; null,
 * nothing (down, silent, neither).
 */
type PortAnswer = 'up' | WrongServerError | null;

/**
 * Aborts `controller` when `signal` (not aborted yet) aborts. The listener on `signal` goes once
 * `controller` has aborted (the pair dropped), so a long-lived caller's signal holds one per pair,
 * not one per socket node-redis makes (node adds one to a socket's signal per socket and keeps it;
 * Node 20.0 has no `AbortSignal.any`).
 */
function abortWith(controller: AbortController, signal: AbortSignal): void {
  const follow = (): void => controller.abort(signal.reason);
  signal.addEventListener('abort', follow, { once: true });
  controller.signal.addEventListener('abort', () => signal.removeEventListener('abort', follow), { once: true });
}

/**
 * Removes every 'abort' listener on `signal`, the signal one connection's sockets are made with,
 * as node-redis is about to make another socket for it: the one before is closed (lost, refused,
 * timed out), the next not made yet. node adds listeners to a socket's signal and keeps one after
 * the socket closed, holding it; node-redis makes every socket of a connection with the same
 * signal (it copies its socket options once, and has no hook to make a socket), so each
 * reconnection left one more: dead sockets kept, and past ten, node's MaxListenersExceededWarning
 * during any Redis outage. Only node's listeners are on it (the pair's abort reaches it through
 * `abortWith`, a listener on the pair's signal).
 */
function forgetSockets(signal: AbortSignal): void {
  for (const listener of getEventListeners(signal, 'abort')) {
    signal.removeEventListener('abort', listener as (event: Event) => void);
  }
}

/**
 * After a connection to `url` failed (not refused): what the port says. Asked both ways at once,
 * `PING` in plain TCP and `PING` after a TLS handshake (any certificate: only the protocol is
 * asked), for `ms` at most, and given up at once when `signal` aborts (the broker closed).
 * Redis answering in the URL's protocol is up: the attempt was lost on the way (a connection reset,
 * a timeout on a loaded link), and a refusal before still stands. Redis answering only in the other
 * protocol is TLS on one side only: a `rediss://` URL to a plain Redis port never completes its TLS
 * handshake (Redis takes the ClientHello for the start of a command and waits for the rest), and a
 * `redis://` URL to a TLS-only port has its connection dropped; both looked like an outage, waited
 * out for ever. `background` (a reconnection failed): nothing waits, it keeps no process alive.
 */
function askPort(text: string, ms: number, signal: AbortSignal, background = false): Promise<PortAnswer> {
  if (signal.aborted) return Promise.resolve(null);
  const url = new URL(text);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port || 6379);
  const shown = maskCredentials(text);
  const secure = url.protocol === 'rediss:';
  /** Whether a reply is Redis's (a RESP type byte first; `PING` gets `+PONG`, or `-NOAUTH` before AUTH). */
  const isRedis = (chunk: Buffer): boolean => /^[-+:$*%_]/.test(chunk.toString('latin1', 0, 1));
  return new Promise((resolve) => {
    const sockets: Socket[] = [];
    let asking = 2;
    const finish = (answer: PortAnswer): void => {
      if (asking < 0) return;
      asking = -1;
      clearTimeout(timer);
      signal.removeEventListener('abort', abort);
      for (const socket of sockets) socket.destroy();
      resolve(answer);
    };
    const abort = (): void => finish(null);
    const timer = setTimeout(abort, ms);
    signal.addEventListener('abort', abort);
    /** Follows one way of asking: `verdict` of its first reply, or nothing once it ends without one. */
    const ask = (socket: Socket, verdict: (chunk: Buffer) => PortAnswer): void => {
      sockets.push(socket);
      // (Not unref'd for `open()`, which waits for it, at most `ms`, and `serve` has nothing else
      // running yet; in the background, it keeps no process alive.)
      if (background) socket.unref();
      let over = false;
      const end = (): void => {
        if (over) return;
        over = true;
        if (--asking === 0) finish(null);
      };
      socket.once('data', (chunk: Buffer) => {
        const answer = verdict(chunk);
        if (answer !== null) finish(answer);
        else socket.destroy();
      });
      socket.on('error', end);
      socket.on('close', end);
    };
    if (background) timer.unref();
    const plain = netConnect(port, host, () => plain.write('PING\r\n'));
    ask(plain, (chunk) => {
      if (!isRedis(chunk)) return null;
      return secure ? new WrongServerError(`${shown}: the server there speaks Redis without TLS (use redis://)`) : 'up';
    });
    const options = { port, host, rejectUnauthorized: false, ...(isIP(host) ? {} : { servername: host }) };
    const tls = tlsConnect(options, () => {
      if (!secure) finish(new WrongServerError(`${shown}: the server there speaks TLS only (use rediss://)`));
      else tls.write('PING\r\n');
    });
    ask(tls, (chunk) => (isRedis(chunk) ? 'up' : null));
  });
}

/** Whether `err` is a connection that found nothing listening (or no route, no such host): no server to ask. */
function unreachable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN)$/.test(code);
}

/**
 * A connection error no retry can mend: Redis refused the credentials, or node's TLS refused the
 * server's certificate (node-redis keeps the socket's error as `originalError`).
 */
function refusal(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err instanceof CommandRefusedError || /^(WRONGPASS|NOAUTH|NOPERM)\b/.test(err.message)) return true;
  // (`/db` past the databases Redis has: node-redis's SELECT at connect. A password given to a
  // Redis that has none: its AUTH refused.)
  if (/^ERR (DB index is out of range|AUTH .* without any password configured)/.test(err.message)) return true;
  // (A command of the connection's own refused: SCRIPT or EVAL renamed away.)
  if (/^ERR unknown command\b/.test(err.message)) return true;
  return untrustedCertificate((err as { originalError?: unknown }).originalError);
}
