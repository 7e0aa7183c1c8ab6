// Test certificates: a key pair and a self-signed certificate for some DNS names, as the PEM
// bundle a release carries.
import { selfSignedCertificate } from "../../lib/openssl";

export interface TestCertificate {
  certificate: string;
  key: string;
  /** Certificate then key: what `berth.tls.<name>` holds. */
  bundle: string;
}

export async function makeTestCertificate(hosts: string[], days = 30): Promise<TestCertificate> {
  const { certificate, key } = await selfSignedCertificate({ commonName: hosts[0] ?? "test", hosts, days });
  return { certificate, key, bundle: certificate + key };
}
