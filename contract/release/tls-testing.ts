// Test certificates made with the openssl CLI (Debian's package, installed by setup): a key pair
// and a self-signed certificate for some DNS names, as the PEM bundle a release carries.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../../lib/process";

export interface TestCertificate {
  certificate: string;
  key: string;
  /** Certificate then key: what `berth.tls.<name>` holds. */
  bundle: string;
}

export async function makeTestCertificate(hosts: string[], days = 30): Promise<TestCertificate> {
  const dir = mkdtempSync(join(tmpdir(), "berth-cert-"));
  try {
    const crt = join(dir, "c.pem");
    const key = join(dir, "k.pem");
    await run("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-subj",
      `/CN=${hosts[0]}`,
      "-addext",
      `subjectAltName=${hosts.map((h) => `DNS:${h}`).join(",")}`,
      "-days",
      String(days),
      "-keyout",
      key,
      "-out",
      crt,
    ]);
    const certificate = readFileSync(crt, "utf8");
    const k = readFileSync(key, "utf8");
    return { certificate, key: k, bundle: certificate + k };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
