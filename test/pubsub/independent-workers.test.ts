/** The independent Python checker against `serve --pubsub --workers 2` without a broker (through the primary). */
import { independentSuite } from './independent-support.js';

independentSuite({ kind: 'workers', name: 'serve --pubsub --workers 2', processes: 1, args: ['--workers', '2'] });
