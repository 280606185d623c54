/**
 * How every operation reports: by the callback when one is given, else by the returned Promise;
 * exactly once, and never from within the initiating call.
 */
import type { WebSocketError } from '../errors.js';

export type Callback<T> = (err: WebSocketError | null, value?: T) => void;

const noop = (): void => {};

/**
 * Calls an application's callback. What it throws is thrown again on the next tick, an uncaught
 * exception as from an event listener: thrown from here it would cut short the loop that called it
 * (the callbacks behind it, the flush and flow update after a write, the rest of a chunk).
 */
export function callBack<T>(callback: Callback<T>, err: WebSocketError | null, value?: T): void {
  try {
    callback(err, value);
  } catch (thrown) {
    process.nextTick(rethrow, thrown);
  }
}

export function rethrow(err: unknown): never {
  throw err;
}

/** The completion of one operation. */
export class Completion<T> {
  readonly promise: Promise<T> | undefined;
  private resolveFn: ((v: T) => void) | undefined;
  private rejectFn: ((e: Error) => void) | undefined;
  private done = false;
  /** Set while the initiating call runs; a completion then is deferred to the next tick. */
  private initiating = true;
  /** Runs once when the operation completes (removes an abort listener). */
  onSettle: (() => void) | undefined;

  constructor(private readonly callback: Callback<T> | undefined) {
    if (callback === undefined) {
      this.promise = new Promise<T>((resolve, reject) => {
        this.resolveFn = resolve;
        this.rejectFn = reject;
      });
    }
  }

  /**
   * Called by the operation as its initiating call returns: from then on, completion may call the
   * callback directly. Returns what the operation returns: the Promise, or undefined.
   */
  started(): Promise<T> | undefined {
    this.initiating = false;
    return this.promise;
  }

  get settled(): boolean {
    return this.done;
  }

  succeed(value: T): void {
    if (this.done) return;
    this.done = true;
    this.onSettle?.();
    if (this.callback) {
      if (this.initiating) process.nextTick(this.callback, null, value);
      else callBack(this.callback, null, value);
    } else {
      this.resolveFn!(value);
    }
  }

  fail(err: WebSocketError): void {
    if (this.done) return;
    this.done = true;
    this.onSettle?.();
    if (this.callback) {
      if (this.initiating) process.nextTick(this.callback, err);
      else callBack(this.callback, err);
    } else {
      // A caller that fired and forgot must not crash the process with an unhandled rejection;
      // one that awaits still sees the error.
      this.promise!.catch(noop);
      this.rejectFn!(err);
    }
  }
}

/**
 * Calls `onAbort` if `signal` aborts before `c` completes; the listener is removed on completion.
 * Returns false if the signal is already aborted (the caller fails the operation at once).
 */
export function bindSignal<T>(c: Completion<T>, signal: AbortSignal | undefined, onAbort: () => void): boolean {
  if (signal === undefined) return true;
  if (signal.aborted) return false;
  signal.addEventListener('abort', onAbort, { once: true });
  c.onSettle = () => signal.removeEventListener('abort', onAbort);
  return true;
}
