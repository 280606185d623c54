/**
 * The outsider's checks (protocol-outsider-support.ts: a `ws` client written from issue 13 and
 * doc/pubsub.md) against `serve --pubsub --workers 2` (topics cross the workers through the
 * primary), each check between the two workers.
 */
import { outsiderSuite } from './protocol-outsider-support.js';

outsiderSuite({ name: '--workers 2, through the primary', workers: true });
