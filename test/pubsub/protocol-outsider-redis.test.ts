/**
 * The outsider's checks (protocol-outsider-support.ts: a `ws` client written from issue 13 and
 * doc/pubsub.md) against two `serve --pubsub --broker redis://…` processes on one real redis-server.
 */
import { outsiderSuite } from './protocol-outsider-support.js';

outsiderSuite({ name: 'two processes on one Redis', broker: 'redis' });
