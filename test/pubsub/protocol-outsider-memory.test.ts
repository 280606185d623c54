/**
 * The outsider's checks (protocol-outsider-support.ts: a `ws` client written from issue 13 and
 * doc/pubsub.md) against one `serve --pubsub` process with its in-memory broker.
 */
import { outsiderSuite } from './protocol-outsider-support.js';

outsiderSuite({ name: 'one process, in memory', workers: false });
