/**
 * The one link between pub/sub and the stream's internals: the stream's prepared-frame hook
 * (src/stream/prepared.ts), which queues an already framed message in order with the stream's
 * other writes, without copying it.
 */
export { queuePreparedFrame } from '../stream/prepared.js';
