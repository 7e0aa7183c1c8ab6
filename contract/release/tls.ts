// TLS certificates for a node's proxy travel in the release as reserved sealed secrets:
// `berth.tls.<name>` holds a PEM bundle (the certificate, its chain, and the private key), sealed
// to the node like every other secret, so a key is never plain in state or in the channel.
// The program checks a bundle before it signs (parseTlsBundle at preview); the agent checks it
// again before it hands the bundle to HAProxy.
import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { ID_RULE, isId } from "../ids";

export const TLS_SECRET_PREFIX = "berth.tls.";

export class TlsBundleError extends Error {}

export interface TlsBundle {
  name: string;
  /** The bundle as HAProxy takes it: certificate, chain, then the private key. */
  pem: string;
  /** DNS names the certificate is valid for (its subjectAltName; the CN when there is none). */
  hosts: string[];
  notAfter: Date;
  /** SHA-256 fingerprint of the leaf certificate: what tells two versions apart. */
  fingerprint: string;
}

export function tlsSecretName(name: string): string {
  if (!isId(name)) {
    throw new TlsBundleError(`certificate name ${JSON.stringify(name)}: ${ID_RULE}`);
  }
  return `${TLS_SECRET_PREFIX}${name}`;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n[\s\S]*?-----END \1-----/g;

/** Parses and checks a PEM bundle: a leaf certificate, its chain, and the matching private key. */
export function parseTlsBundle(name: string, text: string, now: Date = new Date()): TlsBundle {
  const where = `certificate ${name}`;
  const blocks = [...text.matchAll(PEM_BLOCK)].map((m) => ({ type: m[1] as string, text: m[0] }));
  const certs = blocks.filter((b) => b.type === "CERTIFICATE");
  const keys = blocks.filter((b) => b.type.endsWith("PRIVATE KEY"));
  if (certs.length === 0) {
    throw new TlsBundleError(
      `${where}: no PEM certificate found (-----BEGIN CERTIFICATE-----): give the certificate, its chain and the private key`,
    );
  }
  if (keys.length !== 1) {
    throw new TlsBundleError(
      `${where}: ${keys.length === 0 ? "no private key found" : "more than one private key"}: give exactly one PEM private key with the certificate`,
    );
  }
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate((certs[0] as { text: string }).text);
    for (const c of certs.slice(1)) new X509Certificate(c.text);
  } catch (e) {
    throw new TlsBundleError(`${where}: a certificate does not parse (${(e as Error).message})`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey((keys[0] as { text: string }).text);
  } catch (e) {
    throw new TlsBundleError(
      `${where}: the private key does not parse (${(e as Error).message}); an encrypted key is not supported`,
    );
  }
  if (!leaf.checkPrivateKey(key)) {
    throw new TlsBundleError(
      `${where}: the private key does not belong to the first certificate (${leaf.subject.replace(/\n/g, ", ")}): put the leaf certificate first, then its chain`,
    );
  }
  const notAfter = new Date(leaf.validTo);
  if (notAfter.getTime() <= now.getTime()) {
    throw new TlsBundleError(`${where}: expired on ${notAfter.toISOString()}: issue a new certificate`);
  }
  const hosts = certificateHosts(leaf);
  if (hosts.length === 0) {
    throw new TlsBundleError(`${where}: the certificate names no DNS host (subjectAltName or CN)`);
  }
  const pem = `${[...certs.map((c) => c.text), (keys[0] as { text: string }).text].join("\n")}\n`;
  return { name, pem, hosts, notAfter, fingerprint: leaf.fingerprint256 };
}

function certificateHosts(cert: X509Certificate): string[] {
  const san = cert.subjectAltName;
  if (san) {
    return san
      .split(/,\s*/)
      .filter((s) => s.startsWith("DNS:"))
      .map((s) => s.slice(4).toLowerCase());
  }
  const cn = /^CN=(.+)$/m.exec(cert.subject)?.[1];
  return cn ? [cn.toLowerCase()] : [];
}

/** Whether a certificate for `hosts` serves `host` (one wildcard label, as TLS clients match). */
export function coversHost(hosts: readonly string[], host: string): boolean {
  const h = host.toLowerCase();
  return hosts.some((c) => {
    if (c === h) return true;
    if (!c.startsWith("*.")) return false;
    const dot = h.indexOf(".");
    return dot > 0 && h.slice(dot + 1) === c.slice(2);
  });
}

/** The TLS bundles among a release's unsealed secrets (name → bundle), each checked. */
export function tlsBundlesFromSecrets(secrets: Record<string, string>, now: Date = new Date()): TlsBundle[] {
  return Object.entries(secrets)
    .filter(([k]) => k.startsWith(TLS_SECRET_PREFIX))
    .map(([k, v]) => parseTlsBundle(k.slice(TLS_SECRET_PREFIX.length), v, now))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Route hosts that none of the bundles covers (for a clear error at preview). */
export function uncoveredHosts(bundles: readonly TlsBundle[], hosts: readonly string[]): string[] {
  return [...new Set(hosts)].filter((h) => !bundles.some((b) => coversHost(b.hosts, h)));
}
