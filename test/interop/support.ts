/** Shared by the interoperability tests: an in-process ws-stream server, and the peers' processes. */
import http from 'node:http';
import { after } from 'node:test';
import type net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { WebSocketStream, rejectUpgrade, type CloseInfo } from '../../src/index.js';

/** Debian's Python, where python3-websockets and python3-aiohttp are installed (not a pyenv shim). */
export const PYTHON = '/usr/bin/python3';
export const peerScript = (name: string): string =>
  fileURLToPath(new URL(`../../../test/interop/peers/${name}`, import.meta.url));

export interface SeenConnection {
  protocol: string;
  extensions?: string;
  /** Payloads of the pongs this server received (it pings every client once). */
  pongs: string[];
  /** Resolves with the first pong's payload. */
  firstPong: Promise<string>;
  closeInfo?: CloseInfo;
  /** Resolves with closeInfo once the connection is closed. */
  closed: Promise<CloseInfo>;
}

/** An upgrade this server refused: the path, and the status it wrote. */
export interface Refused {
  path: string;
  status: number;
}

/**
 * A ws-stream echo server: subprotocols chat (preferred) and superchat, `/forbidden` refused with
 * 403, a ping sent to each client, and what it saw recorded per connection.
 */
export async function startInteropServer(perMessageDeflate = false): Promise<{
  port: number;
  seen: SeenConnection[];
  /** Resolves with the record of the next connection accepted. */
  nextConnection(): Promise<SeenConnection>;
  refused: Refused[];
  /** Resolves with the next refusal, once its response was written. */
  nextRefusal(): Promise<Refused>;
  close(): void;
}> {
  const seen: SeenConnection[] = [];
  const refused: Refused[] = [];
  let onConnection: ((rec: SeenConnection) => void)[] = [];
  let onRefusal: ((r: Refused) => void)[] = [];
  const server = http.createServer((_req, res) => res.end('interop server\n'));
  server.on('upgrade', (req, socket, head) => {
    if (req.url === '/forbidden') {
      rejectUpgrade(socket, 403, { body: 'forbidden\n' }).then(
        () => {
          const r = { path: req.url!, status: 403 };
          refused.push(r);
          for (const f of onRefusal.splice(0)) f(r);
        },
        () => {},
      );
      return;
    }
    let pong!: (p: string) => void;
    let closed!: (info: CloseInfo) => void;
    const rec: SeenConnection = {
      protocol: '',
      pongs: [],
      firstPong: new Promise((r) => (pong = r)),
      closed: new Promise((r) => (closed = r)),
    };
    const ws = new WebSocketStream(socket, {
      perMessageDeflate,
      controlCallback: (kind, p) => {
        if (kind === 'pong') {
          rec.pongs.push(p.toString());
          pong(p.toString());
        }
      },
    });
    ws.accept(req, { head, selectProtocol: (offered) => ['chat', 'superchat'].find((p) => offered.includes(p)) }).then(
      async () => {
        rec.protocol = ws.protocol;
        rec.extensions = ws.extensions;
        seen.push(rec);
        for (const f of onConnection.splice(0)) f(rec);
        await ws.ping('from-ws-stream');
        try {
          for await (const m of ws) await ws.write(m.data, { binary: m.binary });
        } catch {
          /* recorded in closeInfo */
        }
        rec.closeInfo = await ws.whenClosed();
        closed(rec.closeInfo);
      },
      () => {},
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    seen,
    nextConnection: () => new Promise((r) => onConnection.push(r)),
    refused,
    nextRefusal: () => new Promise((r) => onRefusal.push(r)),
    close: () => {
      onConnection = [];
      onRefusal = [];
      server.close();
      server.closeAllConnections();
    },
  };
}

/**
 * Runs a peer process to its end; returns its exit code and what it printed. No timer: a peer slow
 * on a loaded machine is waited for (a hang is failed by the test runner's timeout); the process is
 * killed after the test.
 */
export function runPeerToEnd(cmd: string, args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    after(() => {
      if (p.exitCode === null && p.signalCode === null) p.kill();
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    p.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    p.once('error', reject);
    p.once('close', (code) => resolve({ code, out, err }));
  });
}

/** Runs a peer process to its end; returns its stdout, or rejects if it exited otherwise than 0. */
export async function runPeer(cmd: string, args: string[]): Promise<string> {
  const { code, out, err } = await runPeerToEnd(cmd, args);
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${code}: ${err || out}`);
  return out;
}

/** Starts a peer server process that prints `listening PORT NAME VERSION`. */
export function startPeerServer(
  cmd: string,
  args: string[],
): Promise<{ port: number; name: string; proc: ChildProcess }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening (\d+) (.*)\n/.exec(out);
      if (m) resolve({ port: Number(m[1]), name: m[2]!, proc: p });
    });
    p.once('error', reject);
    p.once('exit', (code) => reject(new Error(`${args[0]} exited with ${code}: ${err}`)));
  });
}
