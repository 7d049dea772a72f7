/**
 * Test certificates made with `openssl` at test time: a CA, and a server certificate it signs
 * for 127.0.0.1 and localhost, laid out as qemu's tls-creds-x509 expects. `serverDir` holds
 * ca-cert.pem, server-cert.pem and server-key.pem; `clientDir` holds only ca-cert.pem, which is
 * what qemu and libnbd clients need to verify the server.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface TestCertificates {
  serverDir: string;
  clientDir: string;
}

function openssl(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { cwd, timeout: 60_000 }, (error, _stdout, stderr) => {
      if (error === null) resolve();
      else reject(new Error(`openssl ${args.join(' ')}: ${stderr}`));
    });
  });
}

const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A CA in `directory` (ca-cert.pem, ca-key.pem). */
async function makeAuthority(directory: string, commonName: string): Promise<void> {
  mkdirSync(directory, { recursive: true });
  await openssl(
    ['req', '-x509', ...ecKey, '-keyout', 'ca-key.pem', '-out', 'ca-cert.pem', '-days', '2', '-subj', `/CN=${commonName}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    directory,
  );
}

/** Makes a CA and a server certificate under `root`. */
export async function makeCertificates(root: string): Promise<TestCertificates> {
  const authorityDir = path.join(root, 'authority');
  const serverDir = path.join(root, 'server');
  const clientDir = path.join(root, 'client');
  await makeAuthority(authorityDir, 'Strata test CA');
  mkdirSync(serverDir, { recursive: true });
  mkdirSync(clientDir, { recursive: true });
  writeFileSync(
    path.join(authorityDir, 'server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n',
  );
  await openssl(['req', ...ecKey, '-keyout', path.join(serverDir, 'server-key.pem'), '-out', 'server.csr', '-subj', '/CN=localhost'], authorityDir);
  await openssl(
    ['x509', '-req', '-in', 'server.csr', '-CA', 'ca-cert.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial',
      '-out', path.join(serverDir, 'server-cert.pem'), '-days', '2', '-extfile', 'server.ext'],
    authorityDir,
  );
  copyFileSync(path.join(authorityDir, 'ca-cert.pem'), path.join(serverDir, 'ca-cert.pem'));
  copyFileSync(path.join(authorityDir, 'ca-cert.pem'), path.join(clientDir, 'ca-cert.pem'));
  return { serverDir, clientDir };
}

/** A directory with the CA certificate of an unrelated authority: clients using it must refuse the server. */
export async function makeStrangerClientDir(root: string): Promise<string> {
  const directory = path.join(root, 'stranger');
  await makeAuthority(directory, 'Someone else');
  return directory;
}
