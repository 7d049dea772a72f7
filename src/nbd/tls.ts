/**
 * TLS for the NBD server: the credentials, read from a directory laid out as qemu's
 * `tls-creds-x509` expects (`server-cert.pem`, `server-key.pem`, and `ca-cert.pem`), and the
 * in-place upgrade of a connection after NBD_OPT_STARTTLS. All cryptography is Node's `tls`.
 *
 * Decisions:
 * - The server authenticates itself; clients are not asked for certificates. The export name
 *   stays the credential, and TLS keeps it and the data secret and unaltered in transit.
 * - `ca-cert.pem`, when present, is only used at start to check that the server certificate
 *   was issued by it: a mismatch would otherwise surface as every client failing to verify.
 * - TLS 1.2 or later (the NBD spec requires 1.2 and advises against older versions).
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';

/** PEM files of the server's identity. */
export interface NbdTlsCredentials {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** The issuing CA, used only to check `cert`. */
  readonly ca?: Buffer;
}

export const TLS_FILES = { ca: 'ca-cert.pem', cert: 'server-cert.pem', key: 'server-key.pem' } as const;

function readPem(directory: string, file: string, required: boolean): Buffer | undefined {
  const path = join(directory, file);
  try {
    return readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (!required && code === 'ENOENT') return undefined;
    throw new Error(`NBD TLS: cannot read ${path}: ${code ?? (error as Error).message}`);
  }
}

/** Reads and checks the credentials in `directory`; throws an Error that names the problem. */
export function readTlsDirectory(directory: string): NbdTlsCredentials {
  const cert = readPem(directory, TLS_FILES.cert, true)!;
  const key = readPem(directory, TLS_FILES.key, true)!;
  const ca = readPem(directory, TLS_FILES.ca, false);
  const credentials: NbdTlsCredentials = ca === undefined ? { cert, key } : { cert, key, ca };
  secureContextFor(credentials);
  return credentials;
}

/** The secure context the server uses for every connection; throws on unusable credentials. */
export function secureContextFor(credentials: NbdTlsCredentials): tls.SecureContext {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(credentials.cert);
  } catch (error) {
    throw new Error(`NBD TLS: ${TLS_FILES.cert} is not a PEM certificate: ${(error as Error).message}`);
  }
  if (credentials.ca !== undefined) {
    let authority: X509Certificate;
    try {
      authority = new X509Certificate(credentials.ca);
    } catch (error) {
      throw new Error(`NBD TLS: ${TLS_FILES.ca} is not a PEM certificate: ${(error as Error).message}`);
    }
    if (!certificate.verify(authority.publicKey)) {
      throw new Error(`NBD TLS: ${TLS_FILES.cert} is not signed by ${TLS_FILES.ca}`);
    }
  }
  try {
    return tls.createSecureContext({ cert: credentials.cert, key: credentials.key, minVersion: 'TLSv1.2' });
  } catch (error) {
    throw new Error(`NBD TLS: ${TLS_FILES.cert} and ${TLS_FILES.key} are unusable together: ${(error as Error).message}`);
  }
}

/**
 * Starts TLS as the server on a plain socket whose NBD_OPT_STARTTLS was just acknowledged, and
 * resolves once the TLS handshake is done. Must be called in the same turn as the
 * acknowledgement was written: the client's first TLS bytes then reach the TLS layer, never a
 * plaintext reader. Rejects if the TLS handshake fails or the connection closes first.
 */
export function upgradeToTls(socket: net.Socket, secureContext: tls.SecureContext): { secure: tls.TLSSocket; ready: Promise<void> } {
  const secure = new tls.TLSSocket(socket, { isServer: true, secureContext, requestCert: false, rejectUnauthorized: false });
  const ready = new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => {
      cleanUp();
      reject(error);
    };
    const onClose = () => {
      cleanUp();
      reject(new Error('connection closed during the TLS handshake'));
    };
    const onSecure = () => {
      cleanUp();
      resolve();
    };
    const cleanUp = () => {
      secure.off('error', onError);
      secure.off('close', onClose);
      secure.off('secure', onSecure);
    };
    secure.once('error', onError);
    secure.once('close', onClose);
    secure.once('secure', onSecure);
  });
  return { secure, ready };
}
