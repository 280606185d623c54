/**
 * `Sec-WebSocket-Extensions` (RFC 6455 §9.1): a list of extensions, each a token with parameters
 * `; name[=value]` (the value a token or a quoted string). Parsed in one linear pass.
 */
import type { HeaderValue } from './tokens.js';
import { isToken } from './tokens.js';

export interface ExtensionOffer {
  name: string;
  /** Parameters in order; a parameter without a value is `true`. */
  params: [string, string | true][];
}

/** Parses the header; returns null for a malformed one (the whole header is then ignored or refused). */
export function parseExtensions(value: HeaderValue): ExtensionOffer[] | null {
  if (value === undefined) return [];
  const text = Array.isArray(value) ? value.join(', ') : value;
  const out: ExtensionOffer[] = [];
  let i = 0;
  const n = text.length;
  const ows = (): void => {
    while (i < n && (text[i] === ' ' || text[i] === '\t')) i++;
  };
  const token = (): string => {
    const start = i;
    while (i < n && !' \t,;="'.includes(text[i]!)) i++;
    const t = text.slice(start, i);
    return isToken(t) ? t : '';
  };
  for (;;) {
    ows();
    if (i >= n) break;
    if (text[i] === ',') {
      i++;
      continue;
    } // empty list elements are allowed
    const name = token();
    if (!name) return null;
    const params: [string, string | true][] = [];
    ows();
    while (i < n && text[i] === ';') {
      i++;
      ows();
      const key = token();
      if (!key) return null;
      ows();
      let val: string | true = true;
      if (text[i] === '=') {
        i++;
        ows();
        if (text[i] === '"') {
          i++;
          let v = '';
          while (i < n && text[i] !== '"') {
            if (text[i] === '\\' && i + 1 < n) i++;
            v += text[i++];
          }
          if (text[i] !== '"') return null;
          i++;
          if (!isToken(v)) return null; // RFC 6455 §9.1: a quoted value must still be a token
          val = v;
        } else {
          val = token();
          if (!val) return null;
        }
        ows();
      }
      params.push([key.toLowerCase(), val]);
    }
    out.push({ name: name.toLowerCase(), params });
    ows();
    if (i < n && text[i] !== ',') return null;
  }
  return out;
}

/** Serialises one extension with its parameters. */
export function formatExtension(name: string, params: [string, string | number | true][]): string {
  return [name, ...params.map(([k, v]) => (v === true ? k : `${k}=${v}`))].join('; ');
}
