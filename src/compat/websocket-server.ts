/**
 * ws's `WebSocketServer`: the HTTP side as ws does it (its checks and answers, `verifyClient`,
 * `shouldHandle`, `handleProtocols`, the `headers` event, client tracking, `close(cb)`), then the
 * socket handed to `WebSocketStream.accept`, which takes the RFC 6455 check made here (before
 * `verifyClient`, as ws checks), answers 101 and opens the stream. Options are read from
 * `server.options` at each upgrade.
 */
import { EventEmitter } from 'node:events';
import http, { type IncomingMessage, type OutgoingHttpHeaders, type Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { shown } from '../errors.js';
import { normaliseStreamOptions, type ResponseHeaders, type StreamOptions } from '../options.js';
import { negotiateAsServer } from '../proto/deflate-params.js';
import { parseExtensions } from '../proto/extensions.js';
import { HandshakeError, validateUpgradeRequest } from '../proto/handshake-server.js';
import { isToken } from '../proto/tokens.js';
import type { AcceptOptions } from '../options.js';
import { markChecked } from '../stream/accept.js';
import { WebSocketStream, adoptOpen, limitCompressedOnWire } from '../stream/websocket-stream.js';
import { onControl } from './control.js';
import { formatOffers, wsServerOffers } from './negotiation.js';
import {
  synchronousEvents,
  toStreamOptions,
  type VerifyClientCallback,
  type VerifyClientCallbackAsync,
  type VerifyClientCallbackSync,
  type VerifyClientInfo,
  wsDefaults,
} from './options.js';
import { WebSocket } from './websocket.js';

export type { VerifyClientCallback, VerifyClientCallbackAsync, VerifyClientCallbackSync, VerifyClientInfo };
/** The server's options; `W` is the class it makes its WebSockets with, `R` that of its requests. */
export type ServerOptions<
  W extends typeof WebSocket = typeof WebSocket,
  R extends typeof IncomingMessage = typeof IncomingMessage,
> = WebSocket.ServerOptions<W, R>;

/** EventEmitter's emit() as loaded: one replaced since (a spy, on the instance, a subclass or the prototype) differs. */
const plainEmit = EventEmitter.prototype.emit;

const RUNNING = 0;
const CLOSING = 1;
const CLOSED = 2;

const keyRegex = /^[+/0-9A-Za-z]{22}==$/;
/** Marks a socket already handed to handleUpgrade: the WebSocket made for it. */
const kHandled = Symbol('ws-stream.compat.handled');
/** An upgraded socket refused (abortHandshake) before its WebSocket was open: it goes once open. */
const kRefusedLate = Symbol('ws-stream.compat.refusedLate');
type HandledSocket = Duplex & { [kHandled]?: WebSocket; [kRefusedLate]?: boolean };

function socketOnError(this: Duplex): void {
  this.destroy();
}

/**
 * ws's HTTP answer to a refused upgrade: status, `Connection: close`, an HTML body, then the socket goes. A
 * socket already upgraded (a verifyClient that called back `true` then `false`, a second server on the same
 * HTTP server whose path does not match) has its WebSocket terminated instead: ws writes the answer into
 * the open WebSocket, whose peer reads it as frames.
 */
function abortHandshake(socket: Duplex, code: number, message?: string, headers?: OutgoingHttpHeaders): void {
  if ((socket as HandledSocket)[kHandled]) return refuseUpgraded(socket as HandledSocket);
  const body = message || http.STATUS_CODES[code] || '';
  const all: OutgoingHttpHeaders = {
    Connection: 'close',
    'Content-Type': 'text/html',
    'Content-Length': Buffer.byteLength(body),
    ...headers,
  };
  socket.once('finish', socket.destroy);
  socket.end(
    `HTTP/1.1 ${code} ${http.STATUS_CODES[code]}\r\n${Object.keys(all)
      .map((h) => `${h}: ${all[h]}`)
      .join('\r\n')}\r\n\r\n${body}`,
  );
}

/** ws's subprotocol list: tokens separated by commas; an empty or repeated one is an error. */
function parseProtocols(value: string): Set<string> {
  const set = new Set<string>();
  for (const part of value.split(',')) {
    const p = part.trim();
    if (!isToken(p) || set.has(p)) throw new SyntaxError(`Invalid subprotocol ${JSON.stringify(p)}`);
    set.add(p);
  }
  return set;
}

/** The TypeError (code ERR_INVALID_ARG_TYPE, as Node's) for a server option of the wrong kind. */
function invalidOption(name: string, what: string, value: unknown): TypeError {
  const err = new TypeError(`The "${name}" option must be ${what}. Received ${shown(value)}`);
  return Object.assign(err, { code: 'ERR_INVALID_ARG_TYPE' });
}

// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: its typed events are declared by the interface below
export class WebSocketServer<
  W extends typeof WebSocket = typeof WebSocket,
  R extends typeof IncomingMessage = typeof IncomingMessage,
> extends EventEmitter {
  options: ServerOptions<W, R> & { WebSocket: W };
  /** The open clients; undefined with `clientTracking: false` (typed as @types/ws types it). */
  clients!: Set<InstanceType<W>>;
  /**
   * Not set by the server (undefined unless set): applications tag a server with it (NestJS's
   * WsAdapter). Typed as @types/ws types it.
   */
  declare path: string;
  private _server: HttpServer | HttpsServer | null = null;
  private _removeListeners: (() => void) | null = null;
  private _state = RUNNING;
  private _shouldEmitClose = false;
  /** Upgrades accepted by the stream but not yet open (counted by close()). */
  private _pending = 0;
  /** The stream options, updated in place from `options` at each upgrade. */
  private readonly _streamOptions: StreamOptions = {};
  private readonly _selectProtocol = (offered: string[], req: unknown): string | undefined => {
    const handle = this.options.handleProtocols;
    if (!handle) return offered[0];
    // A request seen through a view (coreRequest) is handed over as itself, as verifyClient and
    // 'connection' get it; what the listener throws is kept on what accept() was given.
    const own = ((req as RequestView)[kOriginal] ?? req) as InstanceType<R>;
    const p = thrownBy(req as IncomingMessage, () => handle(new Set(offered), own));
    return p ? p : undefined;
  };

  // Optional as @types/ws types it; without one of port, server and noServer it throws ws's TypeError.
  constructor(options?: ServerOptions<W, R>, callback?: () => void) {
    super();
    // ws's defaults, in `server.options` as ws has them (applications read e.g. `options.maxPayload`).
    const o = {
      allowSynchronousEvents: true,
      autoPong: true,
      maxBufferedChunks: 256 * 1024,
      maxFragments: wsDefaults.maxFragments,
      maxPayload: wsDefaults.maxPayload,
      maxPendingAutoPongs: 60,
      skipUTF8Validation: false,
      perMessageDeflate: false,
      handleProtocols: null,
      clientTracking: true,
      closeTimeout: wsDefaults.closeTimeout,
      verifyClient: null,
      noServer: false,
      backlog: null,
      server: null,
      host: null,
      path: null,
      port: null,
      WebSocket,
      ...options,
    } as unknown as ServerOptions<W, R> & { WebSocket: W };
    if (
      (o.port == null && !o.server && !o.noServer) ||
      (o.port != null && (o.server || o.noServer)) ||
      (o.server && o.noServer)
    ) {
      throw new TypeError('One and only one of the "port", "server", or "noServer" options must be specified');
    }
    // ws calls these at an upgrade, and one that is not a function throws there (out of the server's
    // 'upgrade' listener: the process goes down); here a TypeError from the constructor.
    for (const name of ['verifyClient', 'handleProtocols'] as const)
      if (o[name] && typeof o[name] !== 'function') throw invalidOption(name, 'a function', o[name]);
    const Class = o.WebSocket;
    if (typeof Class !== 'function' || (Class !== WebSocket && !(Class.prototype instanceof WebSocket)))
      throw invalidOption('WebSocket', 'the WebSocket class of ws-stream/ws or a subclass of it', Class);
    // Checked now (a WebSocketError ERR_WS_INVALID_ARGUMENT), not at the first upgrade.
    normaliseStreamOptions(toStreamOptions(o, false, onControl, this._streamOptions));
    if (o.port != null) {
      this._server = http.createServer((_req, res) => {
        const body = http.STATUS_CODES[426]!;
        res.writeHead(426, { 'Content-Length': body.length, 'Content-Type': 'text/plain' });
        res.end(body);
      });
      this._server.listen(o.port, o.host, o.backlog, callback);
    } else if (o.server) {
      this._server = o.server;
    }
    if (this._server) {
      const server = this._server;
      const onListening = (): boolean => this.emit('listening');
      const onError = (err: Error): boolean => this.emit('error', err);
      const onUpgrade = (req: InstanceType<R>, socket: Duplex, head: Buffer): void =>
        this.handleUpgrade(req, socket, head, (ws) => this.emit('connection', ws, req));
      server.on('listening', onListening);
      server.on('error', onError);
      server.on('upgrade', onUpgrade);
      this._removeListeners = () => {
        server.removeListener('listening', onListening);
        server.removeListener('error', onError);
        server.removeListener('upgrade', onUpgrade);
      };
    }
    if (o.perMessageDeflate === true) o.perMessageDeflate = {};
    if (o.clientTracking) this.clients = new Set();
    this.options = o;
  }

  /** The bound address of the server ws made or was given; throws in noServer mode. */
  address(): AddressInfo | string | null {
    if (this.options.noServer) throw new Error('The server is operating in "noServer" mode');
    if (!this._server) return null;
    return this._server.address();
  }

  /**
   * Stops accepting connections and emits 'close' once every client is closed (open clients are
   * not closed: as in ws 8). A server made by `port` is closed too.
   */
  close(cb?: (err?: Error) => void): void {
    if (this._state === CLOSED) {
      if (cb) this.once('close', () => cb(new Error('The server is not running')));
      process.nextTick(emitClose, this);
      return;
    }
    if (cb) this.once('close', cb);
    if (this._state === CLOSING) return;
    this._state = CLOSING;
    if (this.options.noServer || this.options.server) {
      if (this._server) {
        this._removeListeners!();
        this._removeListeners = this._server = null;
      }
      if (this.clients && (this.clients.size > 0 || this._pending > 0)) this._shouldEmitClose = true;
      else process.nextTick(emitClose, this);
    } else {
      const server = this._server!;
      this._removeListeners!();
      this._removeListeners = this._server = null;
      server.close(() => emitClose(this));
    }
  }

  /**
   * Whether this server handles the request (its `path`). Overridable; typed as @types/ws types it,
   * though a Promise is not awaited: handleUpgrade takes it for its truth, as ws does (so it handles
   * the request whatever the Promise settles to).
   */
  shouldHandle(req: InstanceType<R>): boolean | Promise<boolean> {
    const path = this.options.path;
    if (path) {
      // Read as ws reads it: something that is no request (no `url`) throws ws's TypeError.
      const url = req.url as string;
      const i = url.indexOf('?');
      if ((i !== -1 ? url.slice(0, i) : url) !== path) return false;
    }
    return true;
  }

  /** Handles an HTTP upgrade request: `cb(ws, req)` once the WebSocket is open. */
  handleUpgrade(
    req: InstanceType<R>,
    socket: Duplex,
    head: Buffer,
    cb: (ws: InstanceType<W>, req: InstanceType<R>) => void,
  ): void {
    socket.on('error', socketOnError);
    const key = req.headers['sec-websocket-key'];
    const upgrade = req.headers.upgrade;
    const version = +(req.headers['sec-websocket-version'] ?? Number.NaN);
    if (req.method !== 'GET') return this._refuse(req, socket, 405, 'Invalid HTTP method');
    if (upgrade === undefined || upgrade.toLowerCase() !== 'websocket')
      return this._refuse(req, socket, 400, 'Invalid Upgrade header');
    if (key === undefined || !keyRegex.test(key))
      return this._refuse(req, socket, 400, 'Missing or invalid Sec-WebSocket-Key header');
    if (version !== 13 && version !== 8) {
      return this._refuse(req, socket, 400, 'Missing or invalid Sec-WebSocket-Version header', {
        'Sec-WebSocket-Version': '13, 8',
      });
    }
    // Taken for its truth, as ws takes it: a Promise (an override typed as @types/ws allows) handles the request.
    if (!this.shouldHandle(req)) return abortHandshake(socket, 400);
    const protocolHeader = req.headers['sec-websocket-protocol'];
    if (protocolHeader !== undefined) {
      try {
        parseProtocols(protocolHeader);
      } catch {
        return this._refuse(req, socket, 400, 'Invalid Sec-WebSocket-Protocol header');
      }
    }
    // The options as they are now (crossws swaps perMessageDeflate around this call): the normalised
    // object is frozen, so an asynchronous verifyClient still opens with them. It is the same object
    // for every upgrade while the options do not change.
    let streamOptions: StreamOptions;
    try {
      streamOptions = normaliseStreamOptions(
        toStreamOptions(this.options, false, onControl, this._streamOptions),
      ) as StreamOptions;
    } catch (err) {
      // Options made invalid after construction: this upgrade fails, the process goes on.
      abortHandshake(socket, 500);
      if (this.listenerCount('error') > 0) this.emit('error', err);
      return;
    }
    const extensionHeader = req.headers['sec-websocket-extensions'];
    /** The offers the core negotiates, when ws's options declined some of the request's. */
    let weighed: string | undefined;
    const pmd = this.options.perMessageDeflate;
    if (pmd && extensionHeader !== undefined) {
      const offers = parseExtensions(extensionHeader);
      const deflate = (streamOptions as ReturnType<typeof normaliseStreamOptions>).perMessageDeflate!;
      const kept = offers === null ? null : wsServerOffers(pmd === true ? {} : pmd, offers);
      if (
        offers === null ||
        kept === null ||
        (offers.some((o) => o.name === 'permessage-deflate') && negotiateAsServer(kept, deflate) === null)
      ) {
        return this._refuse(req, socket, 400, 'Invalid or unacceptable Sec-WebSocket-Extensions header');
      }
      if (kept !== offers) weighed = formatOffers(kept);
    }
    // The core's own checks (RFC 6455; stricter than ws's, which came first and took what they refuse): a request
    // they refuse is refused here, before verifyClient, as ws refuses before it: through 'wsClientError' when someone
    // listens (ws's way for a bad request; ws takes these), else answered by the core (completeUpgrade's accept).
    // Checked once: accept() takes the outcome (markChecked) rather than checking again.
    const request = coreRequest(req, weighed);
    const fault = upgradeFault(request);
    if (fault) {
      if (this.listenerCount('wsClientError') > 0) this.emit('wsClientError', fault, socket, req);
      else this.completeUpgrade(streamOptions, req, request, socket, head, cb);
      return;
    }
    const verify = this.options.verifyClient;
    if (verify) {
      const s = req.socket as Partial<TLSSocket>;
      const info: VerifyClientInfo = {
        // (ws reads a version-8 request's Sec-WebSocket-Origin: such a request never gets here, the
        // core refusing it above, 426.)
        origin: req.headers.origin as string,
        secure: !!(s.authorized || s.encrypted),
        req,
      };
      if (verify.length === 2) {
        (verify as (i: VerifyClientInfo, cb: VerifyClientCallback) => void)(
          info,
          (verified, code, message, headers) => {
            if (!verified) return abortHandshake(socket, code || 401, message, headers);
            this.completeUpgrade(streamOptions, req, request, socket, head, cb);
          },
        );
        return;
      }
      if (!(verify as (i: VerifyClientInfo) => boolean)(info)) return abortHandshake(socket, 401);
    }
    this.completeUpgrade(streamOptions, req, request, socket, head, cb);
  }

  /** ws's answer to a bad request: 'wsClientError' when someone listens, else the HTTP error. */
  private _refuse(
    req: IncomingMessage,
    socket: Duplex,
    code: number,
    message: string,
    headers?: Record<string, string>,
  ): void {
    if (this.listenerCount('wsClientError') > 0) {
      const err = new Error(message);
      this.emit('wsClientError', err, socket, req);
    } else {
      abortHandshake(socket, code, message, headers);
    }
  }

  /** `request` is `coreRequest(req)`, its RFC 6455 check recorded by `upgradeFault` for accept(). */
  private completeUpgrade(
    streamOptions: StreamOptions,
    req: InstanceType<R>,
    request: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    cb: (ws: InstanceType<W>, req: InstanceType<R>) => void,
  ): void {
    if (!socket.readable || !socket.writable) {
      socket.destroy();
      return;
    }
    const marked = socket as HandledSocket;
    if (marked[kHandled]) {
      throw new Error(
        'server.handleUpgrade() was called more than once with the same socket, possibly due to a misconfiguration',
      );
    }
    if (this._state > RUNNING) return abortHandshake(socket, 503);
    const ws = new (this.options.WebSocket as W)(null, undefined, this.options) as InstanceType<W>;
    marked[kHandled] = ws;
    const stream = new WebSocketStream(socket, streamOptions);
    limitCompressedOnWire(stream); // maxPayload counts compressed octets too, as in ws
    ws._own(stream);
    // 'headers' is emitted whoever listens, as ws does: a spy on emit() or a wrapper that forwards
    // every event sees it too.
    const options: AcceptOptions = {
      head,
      selectProtocol: this._selectProtocol,
      decorator: (headers, status) => this._emitHeaders(headers, status, req),
    };
    this._pending++;
    stream.accept(request, options, (err) => {
      this._pending--;
      if (err && stream.role === undefined) {
        // The core refused what ws would take (RFC 6455 checks ws skips), or a handleProtocols or
        // 'headers' listener threw (answered 500; thrown below).
        this._maybeEmitClose();
        return;
      }
      socket.removeListener('error', socketOnError);
      if (this.clients) {
        this.clients.add(ws);
        ws._tracker = this;
      }
      // The 101 was made but its socket went first (a handleProtocols or 'headers' listener destroyed it,
      // or the client left): ws has written it and opened the WebSocket by then, which closes with 1006.
      ws._adopt(
        err ? openOnGoneSocket(stream, socket, streamOptions, request) : stream,
        socket,
        synchronousEvents(this.options),
      );
      cb(ws, req);
      if (marked[kRefusedLate]) ws.terminate();
    });
    // accept() calls handleProtocols and the 'headers' listeners before it returns: what they threw
    // comes out of handleUpgrade(), as in ws (an application's try/catch around it gets it).
    const thrower = request as Thrower;
    if (kThrown in thrower) {
      const thrown = thrower[kThrown];
      delete thrower[kThrown];
      throw thrown;
    }
  }

  /** The 'headers' event: the 101's lines, as ws gives them, editable; read back into the response. */
  private _emitHeaders(headers: ResponseHeaders, status: number, req: IncomingMessage): void {
    if (status !== 101) return;
    // Nobody can see the event (no listener, emit() as node:events made it): nothing to build.
    if (this.emit === plainEmit && this.listenerCount('headers') === 0) return;
    const lines = ['HTTP/1.1 101 Switching Protocols'];
    for (const [name, value] of Object.entries(headers)) {
      for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${v}`);
    }
    const built = lines.slice();
    thrownBy(req, () => this.emit('headers', lines, req));
    // Nobody edited the lines (no listener, or only readers): the headers stand as they are.
    if (sameLines(lines, built)) return;
    for (const name of Object.keys(headers)) delete headers[name];
    for (const line of lines.slice(1)) {
      const i = line.indexOf(':');
      if (i <= 0) continue;
      const name = line.slice(0, i).trim();
      const value = line.slice(i + 1).trim();
      const had = headers[name];
      headers[name] = had === undefined ? value : [...(Array.isArray(had) ? had : [had]), value];
    }
  }

  /** @internal A tracked client closed. */
  _clientClosed(ws: WebSocket): void {
    if (!this.clients) return;
    this.clients.delete(ws as InstanceType<W>);
    this._maybeEmitClose();
  }

  private _maybeEmitClose(): void {
    if (this._shouldEmitClose && this.clients!.size === 0 && this._pending === 0) {
      this._shouldEmitClose = false;
      process.nextTick(emitClose, this);
    }
  }
}

/** A refusal of an upgraded socket: its WebSocket is terminated, now or once open. */
function refuseUpgraded(socket: HandledSocket): void {
  const ws = socket[kHandled]!;
  if (ws.readyState === WebSocket.CONNECTING) socket[kRefusedLate] = true;
  else ws.terminate();
}

/**
 * A stream open on `socket` with what `accepted`'s handshake agreed to (subprotocol, permessage-deflate,
 * negotiated again from `request` as accept() did) before the socket went: it reads the socket's end, as a
 * WebSocket does whose peer left right after the 101.
 */
function openOnGoneSocket(
  accepted: WebSocketStream,
  socket: Duplex,
  options: StreamOptions,
  request: IncomingMessage,
): WebSocketStream {
  const stream = new WebSocketStream(socket, options);
  const config = (options as ReturnType<typeof normaliseStreamOptions>).perMessageDeflate;
  const header = request.headers['sec-websocket-extensions'];
  const offers = accepted.extensions !== '' && config && header !== undefined ? parseExtensions(header) : null;
  const deflate = offers ? negotiateAsServer(offers, config!)?.params : undefined;
  adoptOpen(stream, 'server', { protocol: accepted.protocol, extensions: accepted.extensions, deflate });
  return stream;
}

/** The original request behind a view made by coreRequest. */
const kOriginal = Symbol('ws-stream.compat.original');
type RequestView = IncomingMessage & { [kOriginal]?: IncomingMessage };

/**
 * The request as the core validates it. ws takes a request without a Host value (made by hand, as
 * fastify's `injectWS` does, or an empty `Host:`), with a number for a header, or in HTTP/1.0 (as
 * nginx sends it when left at `proxy_http_version 1.0`), which the core refuses (RFC 6455) or cannot
 * read: such a request is seen through a view with a Host, its values as strings and HTTP/1.1, and
 * is otherwise the request itself (listeners still get the request itself). `extensions`, when given,
 * is the view's Sec-WebSocket-Extensions: the offers that ws's options leave to negotiate.
 */
function coreRequest(req: IncomingMessage, extensions?: string): IncomingMessage {
  const headers = req.headers as Record<string, unknown>;
  let host = false;
  let strings = true;
  for (const name in headers) {
    const value = headers[name];
    if (typeof value !== 'string' && !Array.isArray(value)) strings = false;
    if (name.toLowerCase() === 'host' && value !== undefined && value !== '') host = true;
  }
  // ws reads no HTTP version: node:http parses HTTP/1.0 and 1.1, and ws answers both with its HTTP/1.1 101.
  const old = req.httpVersionMajor === 1 && req.httpVersionMinor === 0;
  if (host && strings && !old && extensions === undefined) return req;
  const view: Record<string, unknown> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined) view[name] = Array.isArray(value) ? value.map(String) : String(value);
  }
  if (!host) {
    for (const name of Object.keys(view)) if (name.toLowerCase() === 'host') delete view[name];
    view.host = 'localhost';
  }
  if (extensions !== undefined) view['sec-websocket-extensions'] = extensions;
  const props: PropertyDescriptorMap = { headers: { value: view, enumerable: true }, [kOriginal]: { value: req } };
  if (old) {
    props.httpVersion = { value: '1.1', enumerable: true };
    props.httpVersionMinor = { value: 1, enumerable: true };
  }
  return Object.create(req, props);
}

/**
 * The core's refusal of a request (seen by coreRequest) that passed ws's checks (its code and
 * status), or undefined if it takes it; the outcome is recorded for the core's accept.
 */
function upgradeFault(request: IncomingMessage): HandshakeError | undefined {
  try {
    markChecked(request, validateUpgradeRequest(request));
    return undefined;
  } catch (e) {
    if (!(e instanceof HandshakeError)) return undefined;
    markChecked(request, e);
    return e;
  }
}

/** What a listener called while the core builds the 101 threw (the core answers 500 and goes on). */
const kThrown = Symbol('ws-stream.compat.thrown');
type Thrower = IncomingMessage & { [kThrown]?: unknown };

function sameLines(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function thrownBy<T>(req: IncomingMessage, f: () => T): T {
  try {
    return f();
  } catch (e) {
    (req as Thrower)[kThrown] = e;
    throw e;
  }
}

function emitClose(server: WebSocketServer): void {
  (server as unknown as { _state: number })._state = CLOSED;
  server.emit('close');
}

type ServerListener<S, T extends unknown[]> = (this: S, ...args: T) => void;

/** ws's typed server events, for the methods @types/ws types them on. */
export interface WebSocketServer<W extends typeof WebSocket, R extends typeof IncomingMessage> {
  on(event: 'connection', listener: ServerListener<this, [ws: InstanceType<W>, req: InstanceType<R>]>): this;
  on(event: 'headers', listener: ServerListener<this, [headers: string[], req: InstanceType<R>]>): this;
  on(event: 'error', listener: ServerListener<this, [err: Error]>): this;
  on(event: 'wsClientError', listener: ServerListener<this, [err: Error, socket: Duplex, req: InstanceType<R>]>): this;
  on(event: 'listening' | 'close', listener: ServerListener<this, []>): this;
  // biome-ignore lint/suspicious/noExplicitAny: the catch-all overload, as EventEmitter's
  on(event: string | symbol, listener: (this: this, ...args: any[]) => void): this;
  once(event: 'connection', listener: ServerListener<this, [ws: InstanceType<W>, req: InstanceType<R>]>): this;
  once(event: 'headers', listener: ServerListener<this, [headers: string[], req: InstanceType<R>]>): this;
  once(event: 'error', listener: ServerListener<this, [err: Error]>): this;
  once(
    event: 'wsClientError',
    listener: ServerListener<this, [err: Error, socket: Duplex, req: InstanceType<R>]>,
  ): this;
  once(event: 'listening' | 'close', listener: ServerListener<this, []>): this;
  // biome-ignore lint/suspicious/noExplicitAny: the catch-all overload, as EventEmitter's
  once(event: string | symbol, listener: (this: this, ...args: any[]) => void): this;
  off(event: 'connection', listener: ServerListener<this, [ws: InstanceType<W>, req: InstanceType<R>]>): this;
  off(event: 'headers', listener: ServerListener<this, [headers: string[], req: InstanceType<R>]>): this;
  off(event: 'error', listener: ServerListener<this, [err: Error]>): this;
  off(event: 'wsClientError', listener: ServerListener<this, [err: Error, socket: Duplex, req: InstanceType<R>]>): this;
  off(event: 'listening' | 'close', listener: ServerListener<this, []>): this;
  // biome-ignore lint/suspicious/noExplicitAny: the catch-all overload, as EventEmitter's
  off(event: string | symbol, listener: (this: this, ...args: any[]) => void): this;
  addListener(event: 'connection', listener: ServerListener<this, [ws: InstanceType<W>, req: InstanceType<R>]>): this;
  addListener(event: 'headers', listener: ServerListener<this, [headers: string[], req: InstanceType<R>]>): this;
  addListener(event: 'error', listener: ServerListener<this, [err: Error]>): this;
  addListener(
    event: 'wsClientError',
    listener: ServerListener<this, [err: Error, socket: Duplex, req: InstanceType<R>]>,
  ): this;
  addListener(event: 'listening' | 'close', listener: ServerListener<this, []>): this;
  // biome-ignore lint/suspicious/noExplicitAny: the catch-all overload, as EventEmitter's
  addListener(event: string | symbol, listener: (this: this, ...args: any[]) => void): this;
  removeListener(
    event: 'connection',
    listener: ServerListener<this, [ws: InstanceType<W>, req: InstanceType<R>]>,
  ): this;
  removeListener(event: 'headers', listener: ServerListener<this, [headers: string[], req: InstanceType<R>]>): this;
  removeListener(event: 'error', listener: ServerListener<this, [err: Error]>): this;
  removeListener(
    event: 'wsClientError',
    listener: ServerListener<this, [err: Error, socket: Duplex, req: InstanceType<R>]>,
  ): this;
  removeListener(event: 'listening' | 'close', listener: ServerListener<this, []>): this;
  // biome-ignore lint/suspicious/noExplicitAny: the catch-all overload, as EventEmitter's
  removeListener(event: string | symbol, listener: (this: this, ...args: any[]) => void): this;
}
