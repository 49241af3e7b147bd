import { X509Certificate, createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import forge from 'node-forge';

/**
 * The private CA of `--tls-auto` and the serving certificates it signs (docs/deploy.md, "TLS").
 * Node.js has no certificate builder: node-forge builds and signs the X.509 structures (one
 * package, no dependencies, no global polyfill), while the RSA keys come from Node's own crypto
 * (native, fast). Everything is PEM text; the caller decides where it is kept.
 */

/** PEM texts of one certificate and its private key. */
export interface CertificatePair {
  cert: string;
  key: string;
}

/** The CA lives long (clients trust it once); the serving certificate is renewed well before its end. */
export const CA_VALIDITY_DAYS = 3650;
/** 397 days: the longest validity clients that police public certificates still accept. */
export const SERVING_VALIDITY_DAYS = 397;
const DAY_MS = 24 * 60 * 60 * 1000;
/** Clocks of clients a little behind this node's must not see a certificate from the future. */
const BACKDATE_MS = 60 * 60 * 1000;

function rsaKeyPair(): { publicKey: forge.pki.PublicKey; privateKey: forge.pki.rsa.PrivateKey; keyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  return { publicKey: forge.pki.publicKeyFromPem(publicKey), privateKey: forge.pki.privateKeyFromPem(privateKey), keyPem: privateKey };
}

/** A positive 128-bit serial number, as hex (RFC 5280: positive, at most 20 octets, unpredictable). */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}

function validity(cert: forge.pki.Certificate, now: number, days: number): void {
  cert.validity.notBefore = new Date(now - BACKDATE_MS);
  cert.validity.notAfter = new Date(now + days * DAY_MS);
}

/** A new self-signed CA that may sign server certificates only (path length 0). */
export function createCertificateAuthority(commonName: string, now: number): CertificatePair {
  const { publicKey, privateKey, keyPem } = rsaKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = serialNumber();
  validity(cert, now, CA_VALIDITY_DAYS);
  const subject = [{ name: 'commonName', value: commonName }, { name: 'organizationName', value: 'Outpost' }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(privateKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: keyPem };
}

/**
 * A serving certificate for `names` (host names and IP addresses; the first is the subject's
 * common name), signed by `ca`.
 */
export function issueServingCertificate(ca: CertificatePair, names: readonly string[], now: number): CertificatePair {
  if (names.length === 0) throw new Error('a serving certificate needs at least one name');
  const caCert = forge.pki.certificateFromPem(ca.cert);
  const caKey = forge.pki.privateKeyFromPem(pkcs1(ca.key));
  const { publicKey, keyPem } = rsaKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = serialNumber();
  validity(cert, now, SERVING_VALIDITY_DAYS);
  cert.setSubject([{ name: 'commonName', value: names[0]!.slice(0, 64) }, { name: 'organizationName', value: 'Outpost' }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    // type 7: an IP address; type 2: a DNS name (RFC 5280, GeneralName).
    { name: 'subjectAltName', altNames: names.map((name) => (isIP(name) ? { type: 7, ip: name } : { type: 2, value: name })) },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: keyPem };
}

/** node-forge reads PKCS#1 RSA keys; a CA key written by another tool may be PKCS#8. */
function pkcs1(keyPem: string): string {
  return createPrivateKey(keyPem).export({ type: 'pkcs1', format: 'pem' }).toString();
}

/** Why `pair` should be issued again for `names` at `now` (null: it is fine as it is). */
export function renewalReason(pair: CertificatePair, ca: string, names: readonly string[], now: number, renewBeforeDays: number): string | null {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pair.cert);
  } catch {
    return 'the serving certificate cannot be read';
  }
  if (!cert.checkPrivateKey(createPrivateKey(pair.key))) return 'the serving key does not match the certificate';
  if (!cert.verify(new X509Certificate(ca).publicKey)) return 'the serving certificate was not signed by this CA';
  const left = Date.parse(cert.validTo) - now;
  if (left < renewBeforeDays * DAY_MS) return `the serving certificate ends in ${Math.max(0, Math.floor(left / DAY_MS))} days`;
  const missing = names.filter((name) => (isIP(name) ? cert.checkIP(name) : cert.checkHost(name, { wildcards: false })) === undefined);
  if (missing.length > 0) return `the serving certificate does not name ${missing.join(', ')}`;
  return null;
}
