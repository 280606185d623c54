/**
 * The WHATWG-shaped side of ws's WebSocket: `addEventListener`/`removeEventListener`, the
 * `onopen`/`onmessage`/`onclose`/`onerror` attributes, and the Event, MessageEvent, CloseEvent and
 * ErrorEvent objects they receive — as ws shapes them (events wrap the EventEmitter's).
 */
import type { EventEmitter } from 'node:events';
import { shown } from '../errors.js';

const kTarget = Symbol('kTarget');
/** Marks a wrapper made for an `on<event>` attribute. */
// ws's description, so that what V8 says when it reads it from null (options) is what it says in ws
const kForAttribute = Symbol('kIsForOnEventAttribute');
/** The user's handler behind a wrapper. */
const kListener = Symbol('kListener');

export class Event {
  /** @internal Set by the dispatching WebSocket; read through `target`. */
  [kTarget]: unknown = null;
  readonly #type: string;
  constructor(type: string) {
    this.#type = type;
  }
  get target(): unknown {
    return this[kTarget];
  }
  get type(): string {
    return this.#type;
  }
}

export class CloseEvent extends Event {
  readonly #code: number;
  readonly #reason: string;
  readonly #wasClean: boolean;
  constructor(type: string, options: { code?: number; reason?: string; wasClean?: boolean } = {}) {
    super(type);
    this.#code = options.code ?? 0;
    this.#reason = options.reason ?? '';
    this.#wasClean = options.wasClean ?? false;
  }
  get code(): number {
    return this.#code;
  }
  get reason(): string {
    return this.#reason;
  }
  get wasClean(): boolean {
    return this.#wasClean;
  }
}

export class ErrorEvent extends Event {
  readonly #error: unknown;
  readonly #message: string;
  constructor(type: string, options: { error?: unknown; message?: string } = {}) {
    super(type);
    this.#error = options.error ?? null;
    this.#message = options.message ?? '';
  }
  get error(): unknown {
    return this.#error;
  }
  get message(): string {
    return this.#message;
  }
}

export class MessageEvent extends Event {
  readonly #data: unknown;
  constructor(type: string, options: { data?: unknown } = {}) {
    super(type);
    this.#data = options.data ?? null;
  }
  get data(): unknown {
    return this.#data;
  }
}

for (const [proto, keys] of [
  [Event.prototype, ['target', 'type']],
  [CloseEvent.prototype, ['code', 'reason', 'wasClean']],
  [ErrorEvent.prototype, ['error', 'message']],
  [MessageEvent.prototype, ['data']],
] as const) {
  for (const key of keys) Object.defineProperty(proto, key, { enumerable: true });
}

export type EventListenerLike = ((event: never) => void) | { handleEvent(event: never): void };

type Wrapper = ((...args: unknown[]) => void) & { [kForAttribute]?: boolean; [kListener]?: EventListenerLike };

/** What the event wrappers read from the WebSocket. */
interface Target extends EventEmitter {
  /** Whether both close frames were exchanged. */
  readonly _wasClean: boolean;
}

function call(listener: EventListenerLike, thisArg: unknown, event: Event): void {
  if (typeof listener === 'object' && listener !== null && typeof listener.handleEvent === 'function') {
    (listener.handleEvent as (e: Event) => void).call(listener, event);
  } else {
    (listener as (e: Event) => void).call(thisArg, event);
  }
}

function makeWrapper(type: string, handler: EventListenerLike): Wrapper | null {
  switch (type) {
    case 'message':
      return function onMessage(this: Target, data: unknown, isBinary: unknown) {
        const event = new MessageEvent('message', { data: isBinary ? data : String(data) });
        event[kTarget] = this;
        call(handler, this, event);
      } as Wrapper;
    case 'close':
      return function onClose(this: Target, code: unknown, reason: unknown) {
        const event = new CloseEvent('close', {
          code: code as number,
          reason: String(reason),
          wasClean: this._wasClean,
        });
        event[kTarget] = this;
        call(handler, this, event);
      } as Wrapper;
    case 'error':
      return function onError(this: Target, error: unknown) {
        const event = new ErrorEvent('error', { error, message: (error as Error).message });
        event[kTarget] = this;
        call(handler, this, event);
      } as Wrapper;
    case 'open':
      return function onOpen(this: Target) {
        const event = new Event('open');
        event[kTarget] = this;
        call(handler, this, event);
      } as Wrapper;
    default:
      return null; // ws ignores other types
  }
}

export function addEventListener(
  this: EventEmitter,
  type: string,
  handler: EventListenerLike,
  options: { once?: boolean; [kForAttribute]?: boolean } = {},
): void {
  // The options are read where ws reads them (once per listener of the type, then for a type it knows), so
  // `null` or a Proxy throws where ws throws.
  for (const l of this.listeners(type) as Wrapper[]) {
    if (!options[kForAttribute] && l[kListener] === handler && !l[kForAttribute]) return; // added once only
  }
  const wrapper = makeWrapper(type, handler);
  if (wrapper === null) return;
  // ws keeps any listener and throws at the next event (out of an 'open', 'message', … emit: the process goes
  // down). Here no listener is none, as in the DOM, and one that cannot be called is a TypeError now.
  if (handler === null || handler === undefined) return;
  if (
    typeof handler !== 'function' &&
    (typeof handler !== 'object' || typeof (handler as { handleEvent?: unknown }).handleEvent !== 'function')
  ) {
    const err = new TypeError(
      `The "listener" argument must be a function or an object with a handleEvent method. Received ${shown(handler)}`,
    );
    throw Object.assign(err, { code: 'ERR_INVALID_ARG_TYPE' });
  }
  wrapper[kForAttribute] = !!options[kForAttribute];
  wrapper[kListener] = handler;
  if (options.once) this.once(type, wrapper);
  else this.on(type, wrapper);
}

export function removeEventListener(this: EventEmitter, type: string, handler: EventListenerLike): void {
  for (const l of this.listeners(type) as Wrapper[]) {
    if (l[kListener] === handler && !l[kForAttribute]) {
      this.removeListener(type, l);
      return;
    }
  }
}

/** Defines `onopen`, `onerror`, `onclose` and `onmessage` on a prototype, as ws does. */
export function defineEventAttributes(proto: object): void {
  for (const type of ['open', 'error', 'close', 'message']) {
    Object.defineProperty(proto, `on${type}`, {
      enumerable: true,
      configurable: true,
      get(this: EventEmitter) {
        for (const l of this.listeners(type) as Wrapper[]) if (l[kForAttribute]) return l[kListener];
        return null;
      },
      set(this: EventEmitter, handler: unknown) {
        for (const l of this.listeners(type) as Wrapper[]) {
          if (l[kForAttribute]) {
            this.removeListener(type, l);
            break;
          }
        }
        if (typeof handler !== 'function') return;
        addEventListener.call(this, type, handler as EventListenerLike, { [kForAttribute]: true });
      },
    });
  }
}
