/** The black-box protocol suite against `serve --pubsub --workers 2` (no broker: topics cross through the primary). */
import { protocolSuite } from './blackbox-support.js';

protocolSuite({
  name: 'serve --pubsub --workers 2',
  setup: async () => ({ args: ['--workers', '2'], teardown: async () => {} }),
});
