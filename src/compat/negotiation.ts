/**
 * ws's reading of its permessage-deflate options in the negotiation, where it is not the core's: ws tells an option
 * set to `false` from one not given (`false` refuses what the peer asks for; not given, the peer's wish is agreed
 * to), and a client states every window it was given, 15 too. The core negotiates what remains (RFC 7692).
 */
import { type ExtensionOffer, formatExtension } from '../proto/extensions.js';
import type { PerMessageDeflateOptions } from './options.js';

const NAME = 'permessage-deflate';

function has(offer: ExtensionOffer, param: string): boolean {
  return offer.params.some(([key]) => key === param);
}

/** The client's offer, as ws makes it from its options. */
export function wsClientOffer(o: PerMessageDeflateOptions): string {
  const params: [string, number | true][] = [];
  if (o.serverNoContextTakeover) params.push(['server_no_context_takeover', true]);
  if (o.clientNoContextTakeover) params.push(['client_no_context_takeover', true]);
  // A window as a number only: ws sends `serverMaxWindowBits: true` as a bare `server_max_window_bits`, which
  // RFC 7692 §7.1.2.1 rules out (a server must refuse the offer; ws's own answers 400).
  if (typeof o.serverMaxWindowBits === 'number') params.push(['server_max_window_bits', o.serverMaxWindowBits]);
  // `false` offers none: the server may then not limit the client's window (RFC 7692 §7.1.2.2).
  if (typeof o.clientMaxWindowBits === 'number') params.push(['client_max_window_bits', o.clientMaxWindowBits]);
  else if (o.clientMaxWindowBits !== false) params.push(['client_max_window_bits', true]);
  return formatExtension(NAME, params);
}

/**
 * Whether ws's client refuses the server's permessage-deflate answer for a parameter its options set to `false`
 * (ws: "Invalid Sec-WebSocket-Extensions header"): `client_no_context_takeover` against `clientNoContextTakeover:
 * false`, `client_max_window_bits` against `clientMaxWindowBits: false` (not offered, so not to be answered).
 */
export function wsClientRefuses(o: PerMessageDeflateOptions, answer: ExtensionOffer): boolean {
  return (
    (o.clientNoContextTakeover === false && has(answer, 'client_no_context_takeover')) ||
    (o.clientMaxWindowBits === false && has(answer, 'client_max_window_bits'))
  );
}

/**
 * The offers as ws's server weighs them: a permessage-deflate offer asking for what an option set to `false` refuses
 * (`server_no_context_takeover` against `serverNoContextTakeover: false`, `server_max_window_bits` against
 * `serverMaxWindowBits: false`) is declined, and with `clientMaxWindowBits: false` the client's window is not
 * limited (its `client_max_window_bits` is not answered). The same array when nothing changes.
 */
export function wsServerOffers(o: PerMessageDeflateOptions, offers: ExtensionOffer[]): ExtensionOffer[] {
  let changed = false;
  const kept: ExtensionOffer[] = [];
  for (const offer of offers) {
    if (offer.name !== NAME) {
      kept.push(offer);
      continue;
    }
    if (
      (o.serverNoContextTakeover === false && has(offer, 'server_no_context_takeover')) ||
      (o.serverMaxWindowBits === false && has(offer, 'server_max_window_bits'))
    ) {
      changed = true;
      continue;
    }
    if (o.clientMaxWindowBits === false && has(offer, 'client_max_window_bits')) {
      changed = true;
      kept.push({ name: offer.name, params: offer.params.filter(([key]) => key !== 'client_max_window_bits') });
      continue;
    }
    kept.push(offer);
  }
  return changed ? kept : offers;
}

/** Offers as a `Sec-WebSocket-Extensions` value. */
export function formatOffers(offers: ExtensionOffer[]): string {
  return offers.map((o) => formatExtension(o.name, o.params)).join(', ');
}
