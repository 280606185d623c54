/** A self-signed certificate for the tests over TLS (brokers, `serve --tls --cert`). */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A self-signed certificate for 127.0.0.1 (and localhost, ::1), made by openssl in a temporary folder: the files' paths. */
export function selfSigned(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ws-stream-tls-'));
  const [cert, key] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
  // (the NATS client checks a server named by its IP address against the name `localhost`)
  const subject = ['-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost,IP:::1'];
  const args = ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1'];
  execFileSync('openssl', [...args, ...subject], { stdio: 'ignore' });
  return { cert, key };
}

/** redis-server arguments for a TLS port `port` serving `cert` (clients not asked for a certificate). */
export function redisTlsArgs(port: number, { cert, key }: { cert: string; key: string }): string[] {
  return [
    '--tls-port',
    String(port),
    '--tls-cert-file',
    cert,
    '--tls-key-file',
    key,
    '--tls-ca-cert-file',
    cert,
    '--tls-auth-clients',
    'no',
  ];
}
