/**
 * `ws-stream serve`'s command line, read strictly: every value is checked before anything starts,
 * and a bad one is a `UsageError` naming the option (main prints it and exits 2). Nothing is
 * guessed: an empty value, `0x50`, `1e3`, ` 2`, a broker URL without a host, or an option of the
 * other mode (`--history` without `--pubsub`) is refused rather than read as something else.
 */
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { MAX_HELD_BYTES, maskCredentials, urlCredentials } from '../pubsub/broker-support.js';
import { isSendableHeaderValue } from '../proto/http.js';
import { isToken } from '../proto/tokens.js';

/** A command line that cannot be served: the message says which option and what it takes. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** What `serve` runs with, every value checked. Times in ms. */
export interface ServeConfig {
  pubsub: boolean;
  host: string;
  port: number;
  quiet: boolean;
  handshakeTimeout: number;
  idleTimeout: number;
  deflate: boolean;
  /** Echo mode: subprotocols, in the server's order of preference. */
  protocols: string[];
  /** Echo mode: serve wss:// (files named, or a self-signed certificate when both are undefined). */
  tls: { cert?: string; key?: string } | undefined;
  log: boolean;
  /** Pub/sub mode: the broker (checked). */
  broker: BrokerUrl | undefined;
  /**
   * Pub/sub mode with --broker: how long the broker may take to answer (a publish, a subscribe, a
   * keep-alive ping) before it counts as unavailable; also the keep-alive ping interval.
   */
  brokerTimeout: number;
  history: number;
  /** Pub/sub mode: payload bytes of history kept per topic. */
  historyBytes: number;
  /** Pub/sub mode, in memory (or in the cluster primary): payload bytes of history for all topics together. */
  historyTotalBytes: number;
  workers: number;
  maxTopics: number;
  /** Pub/sub mode: bytes of all connections' publishes waiting for the broker, per process. */
  maxPublishBytesInFlight: number;
  /**
   * Pub/sub mode with --broker: payload bytes of live messages a topic holds while it waits for a
   * read of the broker (the brokers' `maxHeldBytes`); past it they are read back from history.
   */
  maxHeldBytes: number;
  /** Pub/sub mode: payload bytes of recovered history (`since`) one process holds at once (PubSub's `recovery.maxBytes`). */
  maxRecoveryBytes: number;
  /**
   * Pub/sub mode: while recoveries wait past `maxRecoveryBytes`, a client holding recovered history
   * whose socket took none of it for this long is a slow subscriber (PubSub's `recovery.stallMs`); 0: never.
   */
  recoveryStallTimeout: number;
}

/** The bounds of the counts, also in the usage text and the README. */
export const limits = Object.freeze({
  history: { default: 1000, max: 1_000_000 },
  /** 16 MiB, as PubSub's default; at most 4 GiB. */
  historyBytes: { default: 16 * 1024 * 1024, max: 4 * 1024 * 1024 * 1024 },
  /** 256 MiB; at most 1 TiB. */
  historyTotalBytes: { default: 256 * 1024 * 1024, max: 1024 ** 4 },
  workers: { default: 1, max: 256 },
  maxTopics: { default: 1000, max: 1_000_000 },
  /** 64 MiB per process; at most 1 TiB. */
  maxPublishBytesInFlight: { default: 64 * 1024 * 1024, max: 1024 ** 4 },
  /** 4 MiB per topic, as the brokers' default (MAX_HELD_BYTES); at most 4 GiB, as --history-bytes. */
  maxHeldBytes: { default: MAX_HELD_BYTES, max: 4 * 1024 * 1024 * 1024 },
  /** 256 MiB per process, as PubSub's default; at most 1 TiB. */
  maxRecoveryBytes: { default: 256 * 1024 * 1024, max: 1024 ** 4 },
  /** The longest timeout a Node timer (and the stream's options) can hold: 2^31 − 1 ms. */
  seconds: { max: 2_147_483 },
  /** The brokers' own default (their commandTimeoutMs and pingIntervalMs), in seconds. */
  brokerTimeout: { default: 5 },
  /** PubSub's `recovery.stallMs` default, in seconds. */
  recoveryStallTimeout: { default: 30 },
});

/**
 * A count in [min, max], written in decimal digits only, without a leading zero: `08` or `0080`
 * would be 8 and 80 here but octal (or an error) elsewhere, so it is refused rather than guessed.
 */
function count(option: string, value: string, min: number, max: number): number {
  const n = /^(0|[1-9][0-9]{0,15})$/.test(value) ? Number(value) : Number.NaN;
  if (!(n >= min && n <= max)) {
    const zero = /^0[0-9]/.test(value) ? ', without a leading zero' : '';
    throw new UsageError(`--${option} takes a whole number from ${min} to ${max}${zero}, not ${JSON.stringify(value)}`);
  }
  return n;
}

/**
 * Seconds (decimals allowed) as whole ms; a positive time never rounds down to 0 (which means none).
 * A time that must be positive (`none: false`) refuses 0.
 */
function seconds(option: string, value: string, none = true): number {
  // (Whole seconds without a leading zero, as counts: `0.5` yes, `05` and `00.5` no.)
  const s = /^(0|[1-9][0-9]{0,9})(\.[0-9]{1,9})?$/.test(value) ? Number(value) : Number.NaN;
  if (!(s >= 0 && s <= limits.seconds.max) || (!none && s === 0)) {
    const range = none ? `from 0 to ${limits.seconds.max} (0: none)` : `over 0, at most ${limits.seconds.max}`;
    const zero = /^0[0-9]/.test(value) ? ', without a leading zero' : '';
    throw new UsageError(`--${option} takes seconds ${range}${zero}, not ${JSON.stringify(value)}`);
  }
  return Math.ceil(s * 1000);
}

/** One broker URL's host and port present and sane; `schemes` are the ones allowed in this place. */
function checkUrl(text: string, schemes: string[], what: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--broker: ${shown(text)} is not a URL (want ${what})`);
  }
  if (!schemes.includes(url.protocol)) {
    throw new UsageError(`--broker: ${shown(text)} is not ${what}`);
  }
  if (url.hostname === '') throw new UsageError(`--broker: ${shown(text)} names no host (want ${what})`);
  if (url.port === '0') throw new UsageError(`--broker: ${shown(text)}: port 0 is no server's port`);
  if (url.hash !== '') throw new UsageError(`--broker: ${shown(text)}: a URL fragment means nothing here`);
  // (Checked as the brokers check it, with the option named: exit 2 rather than a failure at open.)
  urlCredentials(url, `--broker: ${shown(text)}`, (detail) => new UsageError(detail));
  return url;
}

/** A checked `--broker`: which broker, and its URL with the scheme(s) lower-cased. */
export interface BrokerUrl {
  readonly kind: 'redis' | 'nats';
  readonly url: string;
}

/** A --broker value quoted for an error message, its password or token masked (`user:***@`, `***@`). */
function shown(text: string): string {
  return JSON.stringify(maskCredentials(text));
}

/** `text` with its scheme lower-cased (URL schemes are case-insensitive; not every client knows it). */
function lowerScheme(text: string): string {
  const colon = text.indexOf(':');
  return text.slice(0, colon).toLowerCase() + text.slice(colon);
}

/**
 * A `--broker` value: `redis://[user:pass@]HOST[:PORT][/DB]` (or `rediss://`), or `nats://` / `tls://HOST[:PORT]`,
 * several NATS servers comma-separated (all `nats://` or all `tls://`); schemes in any case. This
 * decides which broker the value names, for every later step.
 */
export function checkBrokerUrl(value: string): BrokerUrl {
  const redis = 'redis://HOST:PORT or rediss://HOST:PORT';
  const nats = 'nats://HOST:PORT or tls://HOST:PORT';
  if (value === '') throw new UsageError(`--broker is empty: give ${redis} or ${nats} (or leave --broker out)`);
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(value)?.[1]?.toLowerCase();
  if (scheme === 'redis' || scheme === 'rediss') {
    const url = checkUrl(value, ['redis:', 'rediss:'], redis);
    if (!/^\/?([0-9]{1,5})?$/.test(url.pathname)) {
      throw new UsageError(`--broker: ${shown(value)}: the path may only be a database number (/0)`);
    }
    // (node-redis reads nothing from a query: `?db=1` would be dropped unseen)
    if (url.search !== '') throw new UsageError(`--broker: ${shown(value)}: a Redis URL has no query`);
    return { kind: 'redis', url: lowerScheme(value) };
  }
  if (scheme === 'nats' || scheme === 'tls') {
    const schemes = new Set<string>();
    for (const server of value.split(',')) {
      const url = checkUrl(server.trim(), ['nats:', 'tls:'], `${nats} (servers comma-separated)`);
      schemes.add(url.protocol);
      if (url.pathname !== '' && url.pathname !== '/') {
        throw new UsageError(`--broker: ${shown(server)}: a NATS URL has no path`);
      }
      if (url.search !== '') throw new UsageError(`--broker: ${shown(server)}: a NATS URL has no query`);
    }
    // (NatsBroker refuses it too: the client speaks TLS to every server of a list or to none.)
    if (schemes.size > 1) {
      throw new UsageError(
        `--broker: ${shown(value)} mixes nats:// and tls:// servers: the NATS client speaks TLS to every server of a list or to none (make each tls://)`,
      );
    }
    return {
      kind: 'nats',
      url: value
        .split(',')
        .map((server) => lowerScheme(server.trim()))
        .join(','),
    };
  }
  throw new UsageError(`--broker must be ${redis} or ${nats}, not ${shown(value)}`);
}

/**
 * `--host`: an IP address, an IPv6 address in brackets as URLs write it (`[::1]`, taken as `::1`), or
 * a host name's syntax (labels of letters, digits, `-` and `_`, not starting or ending with `-`):
 * what else it could hold (a space, `-x`) would only fail at listen. An IPv6 zone (`fe80::1%eth0`) is
 * refused: no URL can hold it (WHATWG URLs have no zone), so neither the printed URL, the page nor
 * `connect` could reach the server.
 */
function checkHost(value: string): string {
  const bracketed = /^\[(.*)\]$/.exec(value)?.[1];
  const host = bracketed ?? value;
  if (host.includes('%') && isIP(host) === 6) {
    throw new UsageError(
      `--host: ${JSON.stringify(value)} has an IPv6 zone (%…), which no ws:// URL can hold: listen on :: or a global address`,
    );
  }
  const label = '[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?';
  const name = host.length <= 253 && new RegExp(`^${label}(\\.${label})*\\.?$`, 'i').test(host);
  if (bracketed !== undefined ? isIP(host) !== 6 : isIP(host) === 0 && !name) {
    throw new UsageError(
      bracketed !== undefined
        ? `--host: brackets hold an IPv6 address only, not ${JSON.stringify(value)}`
        : `--host takes a host name or IP address, not ${JSON.stringify(value)}`,
    );
  }
  return host;
}

/** `--protocols a,b`: subprotocol names (RFC 6455 §4.1: tokens), none empty, none twice. */
function protocolList(value: string): string[] {
  const list = value.split(',').map((p) => p.trim());
  for (const p of list) {
    if (!isToken(p)) throw new UsageError(`--protocols: ${JSON.stringify(p)} is not a subprotocol name (a token)`);
  }
  if (new Set(list).size !== list.length) throw new UsageError('--protocols names a subprotocol twice');
  return list;
}

type OptionSpecs = Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>;

/** Whether a command-line word is one of `options` (`--name` or `--name=…`), or asks for help. */
function isOptionWord(word: string, options: OptionSpecs): boolean {
  if (word === '-h' || word === '--help') return true;
  const name = /^--([^=]+)/.exec(word)?.[1];
  return name !== undefined && name in options;
}

/**
 * node:util's parseArgs (strict), every refusal one line naming the option. A value option's value
 * may start with `-` (`--port -1`, refused then by the option's own check, not as "ambiguous")
 * unless it is itself an option: `--port --quiet` and a trailing `--port` need a value. A value
 * option given twice is refused (the first would be dropped unseen), unless it takes several.
 */
function readArgs(
  args: string[],
  options: OptionSpecs,
  allowPositionals: boolean,
): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] } {
  const words: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const word = args[i]!;
    if (word === '--') {
      words.push(...args.slice(i));
      break;
    }
    const name = /^--([^=]+)$/.exec(word)?.[1];
    if (name !== undefined && options[name]?.type === 'string') {
      const value = args[i + 1];
      if (value === undefined || value === '--' || isOptionWord(value, options)) {
        throw new UsageError(`--${name} needs a value`);
      }
      words.push(`--${name}=${value}`);
      i++;
    } else words.push(word);
  }
  let parsed: {
    values: Record<string, unknown>;
    positionals: string[];
    tokens: { kind: string; name?: string }[];
  };
  try {
    parsed = parseArgs({ args: words, options, strict: true, allowPositionals, tokens: true });
  } catch (err) {
    // (parseArgs's first sentence: "Unknown option '--x'", "Unexpected argument 'y'", "Option
    // '--quiet' does not take an argument"; what follows is advice for a script author)
    const message = err instanceof Error ? err.message : String(err);
    const first = /^[^\n]*?'(?=\.\s[A-Z])/.exec(message)?.[0] ?? message.split('\n')[0]!;
    throw new UsageError(`${first} (--help lists the options)`);
  }
  const seen = new Set<string>();
  for (const token of parsed.tokens) {
    const name = token.name ?? '';
    if (token.kind !== 'option' || options[name]?.type !== 'string' || options[name]!.multiple) continue;
    if (seen.has(name)) throw new UsageError(`--${name} is given twice: give it once`);
    seen.add(name);
  }
  return {
    values: parsed.values as Record<string, string | boolean | string[] | undefined>,
    positionals: parsed.positionals,
  };
}

const ECHO_ONLY = ['protocols', 'tls', 'cert', 'key', 'log'] as const;
const PUBSUB_ONLY = [
  'broker',
  'broker-timeout',
  'history',
  'history-bytes',
  'history-total-bytes',
  'max-topics',
  'max-publish-bytes-in-flight',
  'max-held-bytes',
  'max-recovery-bytes',
  'recovery-stall-timeout',
] as const;

/** Reads `serve`'s arguments (those after `serve`). Throws `UsageError` for anything it cannot serve. */
export function parseServeArgs(args: string[]): ServeConfig {
  const { values } = readArgs(
    args,
    {
      host: { type: 'string' },
      port: { type: 'string' },
      protocols: { type: 'string' },
      quiet: { type: 'boolean' },
      'handshake-timeout': { type: 'string' },
      'idle-timeout': { type: 'string' },
      deflate: { type: 'boolean' },
      tls: { type: 'boolean' },
      cert: { type: 'string' },
      key: { type: 'string' },
      log: { type: 'boolean' },
      pubsub: { type: 'boolean' },
      broker: { type: 'string' },
      'broker-timeout': { type: 'string' },
      history: { type: 'string' },
      'history-bytes': { type: 'string' },
      'history-total-bytes': { type: 'string' },
      workers: { type: 'string' },
      'max-topics': { type: 'string' },
      'max-publish-bytes-in-flight': { type: 'string' },
      'max-held-bytes': { type: 'string' },
      'max-recovery-bytes': { type: 'string' },
      'recovery-stall-timeout': { type: 'string' },
    },
    false,
  );
  const given = (name: string): boolean => values[name] !== undefined;
  const str = (name: string): string | undefined => values[name] as string | undefined;
  const pubsub = values.pubsub === true;
  for (const name of pubsub ? ECHO_ONLY : PUBSUB_ONLY) {
    if (given(name)) {
      throw new UsageError(
        pubsub ? `--${name} is an option of the echo server, not of serve --pubsub` : `--${name} goes with --pubsub`,
      );
    }
  }
  if (given('broker-timeout') && !given('broker')) {
    throw new UsageError(
      '--broker-timeout goes with --broker: the in-memory broker (and the --workers primary) has none',
    );
  }
  if (given('max-held-bytes') && !given('broker')) {
    throw new UsageError(
      '--max-held-bytes goes with --broker: the in-memory broker (and the --workers primary) holds nothing back',
    );
  }
  if (given('broker') && given('history-total-bytes')) {
    // Redis and NATS keep history on their servers: only the in-process store has such a total.
    throw new UsageError(
      '--history-total-bytes bounds the in-memory history (no --broker, or the --workers primary); with --broker, history is kept by the broker server',
    );
  }
  const host = checkHost(str('host') ?? '127.0.0.1');
  const cert = str('cert');
  const key = str('key');
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('--cert and --key go together');
  if (cert === '' || key === '') throw new UsageError('--cert and --key take file names');
  return {
    pubsub,
    host,
    port: count('port', str('port') ?? '8080', 0, 65535),
    quiet: values.quiet === true,
    handshakeTimeout: seconds('handshake-timeout', str('handshake-timeout') ?? '30'),
    idleTimeout: seconds('idle-timeout', str('idle-timeout') ?? '0'),
    deflate: values.deflate === true,
    protocols: given('protocols') ? protocolList(str('protocols')!) : [],
    tls: values.tls === true || cert !== undefined ? { cert, key } : undefined,
    log: values.log === true,
    broker: given('broker') ? checkBrokerUrl(str('broker')!) : undefined,
    brokerTimeout: seconds('broker-timeout', str('broker-timeout') ?? String(limits.brokerTimeout.default), false),
    history: count('history', str('history') ?? String(limits.history.default), 0, limits.history.max),
    historyBytes: count(
      'history-bytes',
      str('history-bytes') ?? String(limits.historyBytes.default),
      0,
      limits.historyBytes.max,
    ),
    historyTotalBytes: count(
      'history-total-bytes',
      str('history-total-bytes') ?? String(limits.historyTotalBytes.default),
      0,
      limits.historyTotalBytes.max,
    ),
    workers: count('workers', str('workers') ?? String(limits.workers.default), 1, limits.workers.max),
    maxTopics: count('max-topics', str('max-topics') ?? String(limits.maxTopics.default), 1, limits.maxTopics.max),
    // (At least 1: with 0 no publish would ever be taken.)
    maxPublishBytesInFlight: count(
      'max-publish-bytes-in-flight',
      str('max-publish-bytes-in-flight') ?? String(limits.maxPublishBytesInFlight.default),
      1,
      limits.maxPublishBytesInFlight.max,
    ),
    maxHeldBytes: count(
      'max-held-bytes',
      str('max-held-bytes') ?? String(limits.maxHeldBytes.default),
      1,
      limits.maxHeldBytes.max,
    ),
    maxRecoveryBytes: count(
      'max-recovery-bytes',
      str('max-recovery-bytes') ?? String(limits.maxRecoveryBytes.default),
      1,
      limits.maxRecoveryBytes.max,
    ),
    recoveryStallTimeout: seconds(
      'recovery-stall-timeout',
      str('recovery-stall-timeout') ?? String(limits.recoveryStallTimeout.default),
    ),
  };
}

/** What `connect` runs with, every value checked. */
export interface ConnectConfig {
  url: string;
  protocols: string[];
  /** Header fields to add to the upgrade request; a name given twice sends both fields. */
  headers: Record<string, string | string[]>;
  binary: boolean;
  insecure: boolean;
  ca: string | undefined;
  deflate: boolean;
}

/** Fields of the upgrade request that the handshake writes itself (or an option does). */
const HANDSHAKE_FIELDS: Record<string, string> = {
  host: 'the URL names the host',
  upgrade: 'the handshake sets it',
  connection: 'the handshake sets it',
  'sec-websocket-key': 'the handshake sets it',
  'sec-websocket-version': 'the handshake sets it',
  'sec-websocket-protocol': 'use --protocol',
  'sec-websocket-extensions': 'use --deflate',
};

/** Reads `connect`'s arguments (those after `connect`). Throws `UsageError` for anything it cannot use. */
export function parseConnectArgs(args: string[]): ConnectConfig {
  const { values, positionals } = readArgs(
    args,
    {
      protocol: { type: 'string', multiple: true },
      header: { type: 'string', multiple: true },
      binary: { type: 'boolean' },
      insecure: { type: 'boolean' },
      ca: { type: 'string' },
      deflate: { type: 'boolean' },
    },
    true,
  );
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0
        ? 'give the URL to connect to (ws://HOST:PORT/PATH or wss://…)'
        : `one URL, not ${positionals.length}: ${positionals.map((p) => JSON.stringify(p)).join(' ')}`,
    );
  }
  const url = positionals[0]!;
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {}
  // (http:// and https:// are taken as ws:// and wss://, as connect() takes them)
  if (!parsed || !['ws:', 'wss:', 'http:', 'https:'].includes(parsed.protocol)) {
    throw new UsageError(`${JSON.stringify(url)} is not a ws:// or wss:// URL`);
  }
  // (RFC 6455 §3; an empty one, `…/#`, too: its `hash` is '', but a '#' in the serialised URL only starts a fragment)
  if (parsed.href.includes('#')) throw new UsageError(`${JSON.stringify(url)}: a WebSocket URL has no fragment (#…)`);
  const protocols = (values.protocol as string[] | undefined) ?? [];
  for (const p of protocols) {
    if (!isToken(p)) throw new UsageError(`--protocol: ${JSON.stringify(p)} is not a subprotocol name (a token)`);
  }
  if (new Set(protocols).size !== protocols.length) throw new UsageError('--protocol names a subprotocol twice');
  const headers: Record<string, string | string[]> = {};
  const spelled = new Map<string, string>(); // a name in any case is one field name
  for (const h of (values.header as string[] | undefined) ?? []) {
    const i = h.indexOf(':');
    const name = h.slice(0, Math.max(i, 0)).trim();
    const value = h.slice(i + 1).trim();
    if (i <= 0 || !isToken(name)) throw new UsageError(`--header: ${JSON.stringify(h)} is not 'Name: value'`);
    if (!isSendableHeaderValue(value)) {
      throw new UsageError(`--header ${name}: a value has no CR, LF, NUL, nor a character over U+00FF`);
    }
    const own = HANDSHAKE_FIELDS[name.toLowerCase()];
    if (own) throw new UsageError(`--header ${name}: ${own}`);
    const key = spelled.get(name.toLowerCase()) ?? name;
    spelled.set(name.toLowerCase(), key);
    const before = headers[key];
    headers[key] = before === undefined ? value : [...(Array.isArray(before) ? before : [before]), value];
  }
  const ca = values.ca as string | undefined;
  if (ca === '') throw new UsageError('--ca takes a file name');
  return {
    url,
    protocols,
    headers,
    binary: values.binary === true,
    insecure: values.insecure === true,
    ca,
    deflate: values.deflate === true,
  };
}
