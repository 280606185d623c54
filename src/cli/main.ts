#!/usr/bin/env node
/** The command line: `ws-stream serve [--host H] [--port P] [--protocols a,b]`. */
import { parseArgs } from 'node:util';
import { serve } from './serve.js';

const usage = `usage:
  ws-stream serve [--host 127.0.0.1] [--port 8080] [--protocols chat,superchat] [--quiet]
      an echo server: every message comes back with its type; GET / shows a page to try it`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'serve') {
    const { values } = parseArgs({
      args: rest,
      options: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '8080' },
        protocols: { type: 'string', default: '' },
        quiet: { type: 'boolean', default: false },
      },
    });
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      console.error(`ws-stream: bad port ${values.port}`);
      return 2;
    }
    const running = await serve({
      host: values.host!,
      port,
      protocols: values.protocols ? values.protocols.split(',').map((p) => p.trim()).filter(Boolean) : [],
      quiet: values.quiet!,
    });
    console.log(`ws-stream echo server listening on ${running.url}`);
    const stop = (): void => {
      console.log('shutting down');
      running.shutdown().then(() => process.exit(0), () => process.exit(1));
      setTimeout(() => process.exit(0), 3000).unref();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    return -1; // keeps running
  }
  console.error(usage);
  return command === undefined || command === '--help' || command === 'help' ? 0 : 2;
}

main(process.argv.slice(2)).then(
  (code) => { if (code >= 0) process.exitCode = code; },
  (err: unknown) => {
    console.error(`ws-stream: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
