/** The independent Python checker against `serve --pubsub` on its in-memory broker, one process. */
import { independentSuite } from './independent-support.js';

independentSuite({ kind: 'memory', name: 'serve --pubsub (in memory)', processes: 1 });

independentSuite({ kind: 'memory', name: 'serve --pubsub --deflate (in memory)', processes: 1, deflate: true });
