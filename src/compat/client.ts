/**
 * The client's opening handshake, as ws does it: a `node:http(s)` request (so `agent`, TLS options,
 * `finishRequest`, redirects and the `upgrade`/`unexpected-response`/`redirect` events work), then
 * the 101 response checked by the core's client validation and the socket handed to a
 * WebSocketStream in the client role. Failures carry ws's messages.
 */
import type { EventEmitter } from 'node:events';
import http, { type ClientRequest, type ClientRequestArgs, type IncomingMessage } from 'node:http';
import https, { type RequestOptions as HttpsRequestOptions } from 'node:https';
import net, { type NetConnectOpts } from 'node:net';
import querystring from 'node:querystring';
import type { Duplex } from 'node:stream';
import tls, { type PeerCertificate } from 'node:tls';
import type { WebSocketError } from '../errors.js';
import { normaliseStreamOptions } from '../options.js';
import { parseExtensions } from '../proto/extensions.js';
import { newSecKey, validateUpgradeResponse } from '../proto/handshake-client.js';
import { computeAccept } from '../proto/handshake-server.js';
import type { ParsedResponse } from '../proto/http.js';
import { isToken } from '../proto/tokens.js';
import { WebSocketStream, adoptOpen, limitCompressedOnWire } from '../stream/websocket-stream.js';
import { onControl } from './control.js';
import { wsClientOffer, wsClientRefuses } from './negotiation.js';
import { type CommonOptions, type PerMessageDeflateOptions, synchronousEvents, toStreamOptions } from './options.js';

/** Requests a WebSocket gave up on: their later 'error' is not reported. */
// Typed with the named types: the published declarations then need no default import of node:http(s),
// which a program without esModuleInterop refuses.
export const abortedRequests: WeakSet<ClientRequest> = new WeakSet<ClientRequest>();

/**
 * The WebSocket a handshake opens, as this file uses it. Its class (websocket.ts) imports this file
 * to start the handshake: naming here only what is used keeps that import one way.
 */
export interface OpeningWebSocket extends EventEmitter {
  _url: string | undefined;
  _redirects: number;
  _req: ClientRequest | null;
  _protocol: string;
  _readyState: number;
  readonly readyState: number;
  readonly url: string;
  readonly CONNECTING: 0;
  readonly CLOSING: 2;
  _failOpening(err: Error): void;
  _adopt(stream: WebSocketStream, socket: Duplex, allowSynchronousEvents: boolean): void;
}

/** Certificate and key data, as @types/ws names it. */
export type CertMeta = string | string[] | Buffer | Buffer[];

/**
 * ws's client options (with every `http.request`/`https.request` option) but `finishRequest`, whose
 * argument is the WebSocket class: websocket.ts's `ClientOptions` adds it.
 */
export interface ClientRequestOptions
  extends CommonOptions,
    Omit<HttpsRequestOptions, 'timeout' | 'checkServerIdentity' | 'createConnection'> {
  /** Subprotocols, when the constructor's second argument is the options. */
  protocols?: string | string[];
  /** Timeout of the opening handshake, in ms. */
  handshakeTimeout?: number;
  /** The `Origin` header. */
  origin?: string;
  followRedirects?: boolean;
  /** Default 10. */
  maxRedirects?: number;
  /** 13 (default) or 8. */
  protocolVersion?: number;
  /** Accepted for compatibility: masks come from the core's random source. */
  generateMask?: (mask: Buffer) => void;
  /**
   * Passed to `tls.connect`, which calls it with the server's name and its certificate (a
   * PeerCertificate) and refuses the server when it returns something truthy (an Error, or `true`).
   * Typed so that both Node's signature (`tls.checkServerIdentity`) and @types/ws's
   * (`(servername: string, cert: CertMeta) => boolean`) fit.
   */
  checkServerIdentity?(hostname: string, cert: PeerCertificate & CertMeta): Error | boolean | undefined;
  /**
   * Makes the connection in place of `net.connect`/`tls.connect`: `http.request` calls it with the
   * request's options and a callback it may answer instead of returning the socket. Typed so that what
   * @types/ws takes (`net.createConnection`, a function of no arguments) fits as Node's form does.
   */
  createConnection?(
    options: ClientRequestArgs & NetConnectOpts,
    oncreate: (err?: Error | null, socket?: Duplex) => void,
  ): Duplex | null | undefined;
  /** Accepted for compatibility. */
  maxBufferedChunks?: number;
  maxPendingAutoPongs?: number;
}

/** The options of the handshake of `W`: the request's, and the hook that ends the request. */
type HandshakeOptions<W> = ClientRequestOptions & { finishRequest?: (req: ClientRequest, ws: W) => void };

const protocolVersions = [8, 13];

function netConnect(options: net.NetConnectOpts & { socketPath?: string; path?: string }): net.Socket {
  (options as { path?: string }).path = options.socketPath;
  return net.connect(options as net.NetConnectOpts);
}

function tlsConnect(options: tls.ConnectionOptions & { path?: string }): tls.TLSSocket {
  options.path = undefined;
  if (!options.servername && options.servername !== '') {
    options.servername = net.isIP(options.host ?? '') ? '' : options.host;
  }
  return tls.connect(options);
}

/** Starts the opening handshake of `ws` (ws's `initAsClient`); follows redirects by calling itself. */
export function openClient<W extends OpeningWebSocket>(
  ws: W,
  address: string | URL,
  protocols: string[],
  options: HandshakeOptions<W>,
): void {
  const opts: HandshakeOptions<W> & Record<string, unknown> = {
    allowSynchronousEvents: true,
    autoPong: true,
    protocolVersion: protocolVersions[1],
    perMessageDeflate: true,
    followRedirects: false,
    maxRedirects: 10,
    ...options,
    socketPath: undefined,
    hostname: undefined,
    protocol: undefined,
    protocols: undefined,
    timeout: undefined,
    method: 'GET',
    host: undefined,
    path: undefined,
    port: undefined,
  };
  if (!protocolVersions.includes(opts.protocolVersion!)) {
    throw new RangeError(
      `Unsupported protocol version: ${opts.protocolVersion} (supported versions: ${protocolVersions.join(', ')})`,
    );
  }
  let url: URL;
  if (address instanceof URL) url = address;
  else {
    try {
      url = new URL(address);
    } catch {
      throw new SyntaxError(`Invalid URL: ${address}`);
    }
  }
  if (url.protocol === 'http:' || url.protocol === 'https:') {
    url = new URL(url);
    url.protocol = url.protocol === 'http:' ? 'ws:' : 'wss:';
  }
  ws._url = url.href;
  const secure = url.protocol === 'wss:';
  const ipc = url.protocol === 'ws+unix:';
  let invalid: string | undefined;
  if (url.protocol !== 'ws:' && !secure && !ipc) {
    invalid = 'The URL\'s protocol must be one of "ws:", "wss:", "http:", "https:", or "ws+unix:"';
  } else if (ipc && !url.pathname) invalid = "The URL's pathname is empty";
  else if (url.hash) invalid = 'The URL contains a fragment identifier';
  if (invalid !== undefined) {
    const err = new SyntaxError(invalid);
    if (ws._redirects === 0) throw err;
    ws._failOpening(err);
    return;
  }

  const key = newSecKey();
  const request = secure ? https.request : http.request;
  // Spread once, as ws spreads it (its getters run once): the offer and the check of the answer read this copy.
  const pmd: PerMessageDeflateOptions | null = opts.perMessageDeflate
    ? opts.perMessageDeflate === true
      ? {}
      : { ...opts.perMessageDeflate }
    : null;
  opts.perMessageDeflate = pmd ?? false;
  const streamOptions = toStreamOptions(opts, true, onControl);
  // ws's client reads on whatever its sends wait for. Stopping to read while they wait (the core's maxBufferedBytes)
  // would deadlock against our server, which stops reading from a client that does not read: both flooding, each
  // would wait for the other. The server's limit alone keeps the flow.
  streamOptions.maxBufferedBytes = Number.MAX_SAFE_INTEGER;
  const deflate = normaliseStreamOptions(streamOptions).perMessageDeflate;
  // As ws (`opts.createConnection || …`): any falsy value (false, 0, '') takes the default, not node's agent.
  opts.createConnection ||= (secure ? tlsConnect : netConnect) as never;
  // As ws (`opts.defaultPort || …`): a falsy one (0, '', NaN) is the scheme's, so Host leaves out a default port.
  opts.defaultPort ||= secure ? 443 : 80;
  opts.port = url.port || (secure ? 443 : 80);
  opts.host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  opts.headers = {
    ...(opts.headers as Record<string, string>),
    // A number, as ws sets it (`req.getHeader()` gives it back as one).
    'Sec-WebSocket-Version': opts.protocolVersion!,
    'Sec-WebSocket-Key': key,
    Connection: 'Upgrade',
    Upgrade: 'websocket',
  };
  const headers = opts.headers as Record<string, string>;
  opts.path = url.pathname + url.search;
  (opts as { timeout?: number }).timeout = opts.handshakeTimeout;
  if (pmd) headers['Sec-WebSocket-Extensions'] = wsClientOffer(pmd);
  if (protocols.length > 0) {
    const seen = new Set<string>();
    for (const p of protocols) {
      if (typeof p !== 'string' || !isToken(p) || seen.has(p))
        throw new SyntaxError('An invalid or duplicated subprotocol was specified');
      seen.add(p);
    }
    headers['Sec-WebSocket-Protocol'] = protocols.join(',');
  }
  if (opts.origin) {
    if (opts.protocolVersion! < 13) headers['Sec-WebSocket-Origin'] = opts.origin;
    else headers.Origin = opts.origin;
  }
  if (url.username || url.password) {
    // (As ws: querystring's unescape leaves a malformed escape as it is, where decodeURIComponent throws.)
    opts.auth = `${querystring.unescape(url.username)}:${querystring.unescape(url.password)}`;
  }
  if (ipc) {
    const path = opts.path;
    const i = path.indexOf(':');
    if (i === -1) {
      opts.socketPath = path;
      opts.path = '';
    } else {
      opts.socketPath = path.slice(0, i);
      opts.path = path.slice(i + 1);
    }
  }

  let req: ClientRequest;
  if (opts.followRedirects) {
    const w = ws as OpeningWebSocket & { _originalIpc?: boolean; _originalSecure?: boolean; _originalHost?: string };
    if (ws._redirects === 0) {
      w._originalIpc = ipc;
      w._originalSecure = secure;
      w._originalHost = ipc ? opts.socketPath : url.host;
      const given = options.headers as Record<string, string> | undefined;
      // A copy of the caller's options whose headers may change on the way.
      options = { ...options, headers: {} };
      if (given)
        for (const [k, v] of Object.entries(given)) (options.headers as Record<string, string>)[k.toLowerCase()] = v;
    } else if (ws.listenerCount('redirect') === 0) {
      const sameHost = ipc
        ? w._originalIpc
          ? opts.socketPath === w._originalHost
          : false
        : w._originalIpc
          ? false
          : url.host === w._originalHost;
      if (!sameHost || (w._originalSecure && !secure)) {
        // As curl 7.77.0: credentials do not follow a redirect to another host or to plain text.
        delete headers.authorization;
        delete headers.cookie;
        if (!sameHost) delete headers.host;
        opts.auth = undefined;
      }
    }
    const own = options.headers as Record<string, string>;
    if (opts.auth && !own.authorization) own.authorization = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
    req = ws._req = request(opts as https.RequestOptions);
    if (ws._redirects) ws.emit('redirect', ws.url, req);
  } else {
    req = ws._req = request(opts as https.RequestOptions);
  }

  if (opts.handshakeTimeout) {
    req.on('timeout', () => abortRequest(ws, req, 'Opening handshake has timed out'));
  }
  req.on('error', (err) => {
    if (abortedRequests.has(req) || ws._req !== req) return;
    ws._req = null;
    ws._failOpening(err);
  });
  req.on('response', (res: IncomingMessage) => {
    const location = res.headers.location;
    const status = res.statusCode ?? 0;
    if (location && opts.followRedirects && status >= 300 && status < 400) {
      if (++ws._redirects > opts.maxRedirects!) {
        abortRequest(ws, req, 'Maximum redirects exceeded');
        return;
      }
      markAborted(req);
      req.destroy();
      let next: URL;
      try {
        next = new URL(location, address);
      } catch {
        ws._failOpening(new SyntaxError(`Invalid URL: ${location}`));
        return;
      }
      openClient(ws, next, protocols, options);
    } else if (!ws.emit('unexpected-response', req, res)) {
      abortRequest(ws, req, `Unexpected server response: ${res.statusCode}`);
    }
  });
  req.on('upgrade', (res: IncomingMessage, socket: Duplex, head: Buffer) => {
    ws.emit('upgrade', res);
    // A listener of 'upgrade' may have closed the WebSocket.
    if (ws.readyState !== ws.CONNECTING) return;
    ws._req = null;
    const response: ParsedResponse = {
      status: 101,
      reason: res.statusMessage ?? '',
      httpVersion: res.httpVersion,
      headers: res.headers as ParsedResponse['headers'],
      rawHeaders: res.rawHeaders,
    };
    // ws's own checks first, in ws's order (a response wrong in two ways reports what ws reports); the core's
    // validation then judges the rest (the Connection header, permessage-deflate's parameters).
    const fault = wsHeadFault(res, key, protocols);
    if (fault !== null) return abortSocket(ws, socket, fault);
    // As ws: the subprotocol is the WebSocket's once it passed, also when the extensions then fail the handshake.
    const chosen = res.headers['sec-websocket-protocol'];
    if (chosen) ws._protocol = chosen;
    const extensionsFault = wsExtensionsFault(res, pmd);
    if (extensionsFault !== null) return abortSocket(ws, socket, extensionsFault);
    let accepted: ReturnType<typeof validateUpgradeResponse>;
    try {
      accepted = validateUpgradeResponse(response, key, protocols, deflate ?? undefined);
    } catch (e) {
      return abortSocket(ws, socket, wsHandshakeMessage(e as WebSocketError));
    }
    // As ws: the bytes read past the response are read again first, after 'open'.
    if (head.length > 0) socket.unshift(head);
    const stream = new WebSocketStream(socket, streamOptions);
    limitCompressedOnWire(stream); // maxPayload counts compressed octets too, as in ws
    adoptOpen(stream, 'client', accepted);
    ws._adopt(stream, socket, synchronousEvents(opts));
  });

  if (opts.finishRequest) opts.finishRequest(req, ws);
  else req.end();
}

/** What ws's client finds wrong in a 101 before its extensions (its checks, in its order), or null: `Upgrade`, the accept, the subprotocol. */
function wsHeadFault(res: IncomingMessage, key: string, offered: string[]): string | null {
  const upgrade = res.headers.upgrade;
  if (upgrade === undefined || upgrade.toLowerCase() !== 'websocket') return 'Invalid Upgrade header';
  if (res.headers['sec-websocket-accept'] !== computeAccept(key)) return 'Invalid Sec-WebSocket-Accept header';
  const protocol = res.headers['sec-websocket-protocol'];
  if (protocol !== undefined) {
    if (offered.length === 0) return 'Server sent a subprotocol but none was requested';
    if (!offered.includes(protocol)) return 'Server sent an invalid subprotocol';
  } else if (offered.length > 0) return 'Server sent no subprotocol';
  return null;
}

/**
 * What ws's client finds wrong in a 101's `Sec-WebSocket-Extensions` (when present, even empty), or null: whether
 * it parses, names permessage-deflate alone and has no parameter that `deflate` (the client's options) refuses.
 */
function wsExtensionsFault(res: IncomingMessage, deflate: PerMessageDeflateOptions | null): string | null {
  const extensions = res.headers['sec-websocket-extensions'];
  if (extensions !== undefined) {
    if (!deflate) return 'Server sent a Sec-WebSocket-Extensions header but no extension was requested';
    const offers = parseExtensions(extensions);
    if (offers === null || offers.length === 0) return 'Invalid Sec-WebSocket-Extensions header';
    if (offers.some((o) => o.name !== 'permessage-deflate'))
      return 'Server indicated an extension that was not requested';
    if (offers.length === 1 && wsClientRefuses(deflate, offers[0]!)) return 'Invalid Sec-WebSocket-Extensions header';
  }
  return null;
}

function markAborted(req: ClientRequest): void {
  abortedRequests.add(req);
}

/**
 * ws's message for a 101 response the core refused once ws's own checks passed (wsHeadFault, wsExtensionsFault):
 * then only permessage-deflate's parameters remain to fail. (A 101 whose Connection lacks the upgrade token never
 * gets here: node:http then emits 'response', not 'upgrade' — "Unexpected server response: 101", as with ws.)
 */
function wsHandshakeMessage(err: WebSocketError): string {
  switch (err.code) {
    case 'ERR_WS_BAD_EXTENSION':
      return 'Invalid Sec-WebSocket-Extensions header';
    default:
      return err.message;
  }
}

/**
 * Gives up the opening request (`req`, or none once the response came): 'error' with `message`,
 * then 'close'. Also what close()/terminate() do while a client connects.
 */
export function abortRequest(ws: OpeningWebSocket, req: ClientRequest | null, message: string): void {
  ws._readyState = ws.CLOSING;
  const err = new Error(message);
  ws._req = null;
  if (req !== null) {
    markAborted(req);
    req.destroy();
    req.socket?.destroy();
  }
  process.nextTick(() => ws._failOpening(err));
}

/** Gives up an upgraded socket whose response was refused: 'error' with `message`, then 'close'. */
function abortSocket(ws: OpeningWebSocket, socket: Duplex, message: string): void {
  ws._readyState = ws.CLOSING;
  const err = new Error(message);
  socket.on('error', () => {});
  socket.once('close', () => ws._failOpening(err));
  socket.destroy();
}
