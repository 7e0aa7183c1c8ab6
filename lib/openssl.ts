// The few X.509 operations node:crypto lacks (making a certificate or a signing request), done by
// the openssl CLI (Debian's package: installed by setup and by a node's cloud-init) on files in a
// private temporary folder that is removed afterwards.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "./process";

async function inTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "berth-openssl-"));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const subjectArgs = (commonName: string, hosts: readonly string[]) => [
  "-subj",
  `/CN=${commonName}`,
  ...(hosts.length > 0 ? ["-addext", `subjectAltName=${hosts.map((h) => `DNS:${h}`).join(",")}`] : []),
];

/** A new EC P-256 key and a self-signed certificate for `hosts` (PEM each). */
export function selfSignedCertificate(o: {
  commonName: string;
  hosts?: readonly string[];
  days: number;
}): Promise<{ certificate: string; key: string }> {
  return inTempDir(async (dir) => {
    const crt = join(dir, "cert.pem");
    const key = join(dir, "key.pem");
    await run("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      ...subjectArgs(o.commonName, o.hosts ?? []),
      "-days",
      String(o.days),
      "-keyout",
      key,
      "-out",
      crt,
    ]);
    return { certificate: readFileSync(crt, "utf8"), key: readFileSync(key, "utf8") };
  });
}

/** A certificate signing request (PEM) for `hosts`, signed with `keyPem`. */
export function certificateRequest(keyPem: string, hosts: readonly string[]): Promise<string> {
  return inTempDir(async (dir) => {
    const keyFile = join(dir, "key.pem");
    writeFileSync(keyFile, keyPem, { mode: 0o600 });
    await run("openssl", [
      "req",
      "-new",
      "-key",
      keyFile,
      ...subjectArgs(hosts[0] ?? "", hosts),
      "-out",
      join(dir, "csr.pem"),
    ]);
    return readFileSync(join(dir, "csr.pem"), "utf8");
  });
}
