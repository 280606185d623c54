/**
 * `ws-stream serve` without `--pubsub`: the echo server (serve.ts), run as the only process or, with
 * `--workers N`, as a node:cluster primary and its workers (workers.ts), over TLS if asked. Loaded by
 * main.ts only when that command runs: a usage error, `--help` or `--version` loads none of it.
 */
import { execFileSync } from 'node:child_process';
import cluster from 'node:cluster';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { ServeConfig } from './args.js';
import { readPemFile } from './pem-file.js';
import { serve } from './serve.js';
import { runPrimary, runServer, workerHeaders } from './workers.js';

/** A self-signed certificate for localhost, 127.0.0.1 and ::1 (`--host ::1`), made with the machine's openssl. */
function selfSignedCertificate(): { key: Buffer; cert: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'ws-stream-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '30',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
  } catch {
    throw new Error('could not make a self-signed certificate with openssl: give --cert and --key');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Where a cluster primary hands its workers the PEM key and certificate they all serve. */
const TLS_KEY_ENV = 'WS_STREAM_TLS_KEY';
const TLS_CERT_ENV = 'WS_STREAM_TLS_CERT';

/** The key and certificate the primary handed this worker (taken out of its environment), if any. */
function certificateFromPrimary(): { key: Buffer; cert: Buffer } | undefined {
  const key = process.env[TLS_KEY_ENV];
  const cert = process.env[TLS_CERT_ENV];
  delete process.env[TLS_KEY_ENV];
  delete process.env[TLS_CERT_ENV];
  return key && cert ? { key: Buffer.from(key), cert: Buffer.from(cert) } : undefined;
}

/** Runs the echo server `config` describes (checked by parseServeArgs): the exit code, or -1 while it serves. */
export async function runEchoServe(config: ServeConfig): Promise<number> {
  const label = 'ws-stream echo server';
  let tls: { key: Buffer; cert: Buffer } | undefined;
  const primary = config.workers > 1 && cluster.isPrimary;
  const given = cluster.isWorker ? certificateFromPrimary() : undefined;
  if (given) tls = given;
  else if (config.tls) {
    // The primary checks the files given, or makes the one self-signed certificate, before it
    // forks: every worker serves the same one (a client that trusts it reaches each worker).
    const { cert, key } = config.tls;
    let option = cert && key ? '--cert' : '--tls';
    try {
      if (cert && key) {
        const certificate = readPemFile(cert, 'certificate');
        option = '--key';
        tls = { cert: certificate, key: readPemFile(key, 'private key') };
        option = '--cert/--key';
      } else tls = selfSignedCertificate();
      createSecureContext(tls); // a key that is not the certificate's, or a damaged PEM, fails here
    } catch (err) {
      console.error(`ws-stream serve: ${option}: ${err instanceof Error ? err.message : String(err)}`);
      return 1;
    }
  }
  if (primary) {
    const env = tls ? { [TLS_KEY_ENV]: tls.key.toString(), [TLS_CERT_ENV]: tls.cert.toString() } : undefined;
    return runPrimary({ ...config, scheme: config.tls ? 'wss' : 'ws', env }, label);
  }
  const perMessageDeflate = config.deflate ? { threshold: 0 } : false;
  return runServer(() => serve({ ...config, perMessageDeflate, tls, headers: workerHeaders() }), label);
}
