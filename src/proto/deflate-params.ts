/**
 * permessage-deflate negotiation (RFC 7692 §5, §7.1): the server's choice among the client's
 * offers, the client's offer, and the client's check of the server's response. Pure.
 * accept() and handshake() use it when `perMessageDeflate` is on.
 */
import type { ExtensionOffer } from './extensions.js';
import { formatExtension } from './extensions.js';

export interface DeflateConfig {
  /** Ask for / accept no context takeover on the server's side. */
  serverNoContextTakeover?: boolean;
  clientNoContextTakeover?: boolean;
  /** Largest LZ77 window of the server's compressor, 8–15. */
  serverMaxWindowBits?: number;
  /** Largest LZ77 window of the client's compressor, 8–15. */
  clientMaxWindowBits?: number;
}

/** The agreed parameters of a connection. */
export interface DeflateParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number;
  clientMaxWindowBits: number;
}

const NAME = 'permessage-deflate';

function bits(v: string | true): number | null {
  if (v === true || !/^(8|9|1[0-5])$/.test(v)) return null;
  return Number(v);
}

/**
 * Reads one offer's parameters; null when it must be declined (an unknown or repeated parameter,
 * or an invalid value: RFC 7692 §5.1).
 */
function readParams(
  offer: ExtensionOffer,
  response: boolean,
): (Partial<DeflateParams> & { clientBitsOffered?: boolean }) | null {
  const seen = new Set<string>();
  const p: Partial<DeflateParams> & { clientBitsOffered?: boolean } = {};
  for (const [key, value] of offer.params) {
    if (seen.has(key)) return null;
    seen.add(key);
    switch (key) {
      case 'server_no_context_takeover':
      case 'client_no_context_takeover':
        if (value !== true) return null;
        if (key === 'server_no_context_takeover') p.serverNoContextTakeover = true;
        else p.clientNoContextTakeover = true;
        break;
      case 'server_max_window_bits': {
        const b = bits(value);
        if (b === null) return null;
        p.serverMaxWindowBits = b;
        break;
      }
      case 'client_max_window_bits': {
        // In an offer it may come without a value (the client can limit its window); in a
        // response it must have one.
        p.clientBitsOffered = true;
        if (value === true) {
          if (response) return null;
          break;
        }
        const b = bits(value);
        if (b === null) return null;
        p.clientMaxWindowBits = b;
        break;
      }
      default:
        return null;
    }
  }
  return p;
}

/**
 * The server's answer: the first acceptable permessage-deflate offer, as the response's extension
 * value and the agreed parameters; null when every offer is declined (or none was made).
 */
export function negotiateAsServer(
  offers: ExtensionOffer[],
  config: DeflateConfig = {},
): { response: string; params: DeflateParams } | null {
  for (const offer of offers) {
    if (offer.name !== NAME) continue;
    const o = readParams(offer, false);
    if (o === null) continue;
    const params: DeflateParams = {
      serverNoContextTakeover: !!(o.serverNoContextTakeover || config.serverNoContextTakeover),
      clientNoContextTakeover: !!(o.clientNoContextTakeover || config.clientNoContextTakeover),
      serverMaxWindowBits: Math.min(o.serverMaxWindowBits ?? 15, config.serverMaxWindowBits ?? 15),
      clientMaxWindowBits: 15,
    };
    const resp: [string, string | number | true][] = [];
    if (params.serverNoContextTakeover) resp.push(['server_no_context_takeover', true]);
    if (params.clientNoContextTakeover) resp.push(['client_no_context_takeover', true]);
    if (o.serverMaxWindowBits !== undefined || params.serverMaxWindowBits < 15)
      resp.push(['server_max_window_bits', params.serverMaxWindowBits]);
    if (o.clientBitsOffered) {
      // The client may only be limited when it said it can be (RFC 7692 §7.1.2.2).
      params.clientMaxWindowBits = Math.min(o.clientMaxWindowBits ?? 15, config.clientMaxWindowBits ?? 15);
      if (o.clientMaxWindowBits !== undefined || params.clientMaxWindowBits < 15)
        resp.push(['client_max_window_bits', params.clientMaxWindowBits]);
    } else if (config.clientMaxWindowBits !== undefined && config.clientMaxWindowBits < 15) {
      continue; // we need the client's window limited, and this offer cannot do it
    }
    return { response: formatExtension(NAME, resp), params };
  }
  return null;
}

/** The client's offer. */
export function clientOffer(config: DeflateConfig = {}): string {
  const p: [string, string | number | true][] = [];
  if (config.serverNoContextTakeover) p.push(['server_no_context_takeover', true]);
  if (config.clientNoContextTakeover) p.push(['client_no_context_takeover', true]);
  // 15 is every window's default: it needs no saying.
  if (config.serverMaxWindowBits !== undefined && config.serverMaxWindowBits < 15)
    p.push(['server_max_window_bits', config.serverMaxWindowBits]);
  p.push([
    'client_max_window_bits',
    config.clientMaxWindowBits !== undefined && config.clientMaxWindowBits < 15 ? config.clientMaxWindowBits : true,
  ]);
  return formatExtension(NAME, p);
}

/**
 * The client's check of the server's response to `clientOffer(config)`; null when the response is
 * invalid (the connection must then be failed, RFC 7692 §5.2 / §7.1).
 */
export function acceptAsClient(response: ExtensionOffer[], config: DeflateConfig = {}): DeflateParams | null {
  if (response.length !== 1 || response[0]!.name !== NAME) return null;
  const r = readParams(response[0]!, true);
  if (r === null) return null;
  if (config.serverNoContextTakeover && !r.serverNoContextTakeover) return null;
  if (config.serverMaxWindowBits !== undefined && (r.serverMaxWindowBits ?? 15) > config.serverMaxWindowBits)
    return null;
  if (
    r.clientMaxWindowBits !== undefined &&
    config.clientMaxWindowBits !== undefined &&
    r.clientMaxWindowBits > config.clientMaxWindowBits
  )
    return null;
  return {
    serverNoContextTakeover: !!r.serverNoContextTakeover,
    clientNoContextTakeover: !!(r.clientNoContextTakeover || config.clientNoContextTakeover),
    serverMaxWindowBits: r.serverMaxWindowBits ?? 15,
    clientMaxWindowBits: r.clientMaxWindowBits ?? config.clientMaxWindowBits ?? 15,
  };
}
