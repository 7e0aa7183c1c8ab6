// A Cloudflare Origin CA certificate for an environment's route hosts: the key and CSR from a
// dynamic resource (the key never leaves the state, where it is a secret), the certificate from
// cloudflare.OriginCaCertificate. `bundle` (certificate + key, secret) goes into the release,
// sealed to the node, whose HAProxy serves it on 443 for Cloudflare's "Full (strict)" mode.
import * as pulumi from "@pulumi/pulumi";
import { cloudflareSdk } from "../cloud-sdks";
import { PROVIDER_RUNTIME } from "../runtime-path";

export const ORIGIN_KEY_PROVIDER_VERSION = "1";
/** The certificate name (`berth.tls.<name>`) an issued origin certificate has in a release. */
export const ORIGIN_CERTIFICATE_NAME = "cloudflare-origin";

const runtime = PROVIDER_RUNTIME;
const keyProvider: pulumi.dynamic.ResourceProvider = {
  check: (olds, news) => require(runtime).originKey.check(olds, news),
  diff: (id, olds, news) => require(runtime).originKey.diff(id, olds, news),
  create: (news) => require(runtime).originKey.create(news),
};

class OriginKeyRequest extends pulumi.dynamic.Resource {
  declare readonly privateKey: pulumi.Output<string>;
  declare readonly csr: pulumi.Output<string>;

  constructor(name: string, hostnames: string[], opts?: pulumi.CustomResourceOptions) {
    super(
      keyProvider,
      name,
      {
        berthKind: "origin-key-request",
        berthProviderVersion: ORIGIN_KEY_PROVIDER_VERSION,
        hostnames,
        privateKey: undefined,
        csr: undefined,
      },
      { ...opts, additionalSecretOutputs: ["privateKey"] },
    );
  }
}

export interface OriginCertificateArgs {
  /** Host names the certificate covers (FQDNs in the account's zones; `*.` for one level). */
  hostnames: string[];
  /** Days; Cloudflare allows 7, 30, 90, 365, 730, 1095 and 5475 (the default). */
  validityDays?: 7 | 30 | 90 | 365 | 730 | 1095 | 5475;
}

export class OriginCertificate extends pulumi.ComponentResource {
  /** Certificate then private key (PEM): what `berth.tls.<name>` carries. Secret. */
  readonly bundle: pulumi.Output<string>;
  readonly expiresOn: pulumi.Output<string>;

  constructor(name: string, args: OriginCertificateArgs, opts?: pulumi.ComponentResourceOptions) {
    super("berth:index:OriginCertificate", name, {}, opts);
    const hostnames = [...new Set(args.hostnames.map((h) => h.toLowerCase()))].sort();
    if (hostnames.length === 0)
      throw new pulumi.RunError(`${name}: an origin certificate needs at least one host`);
    const key = new OriginKeyRequest(`${name}-key`, hostnames, { parent: this });
    const cert = new (cloudflareSdk().OriginCaCertificate)(
      `${name}-certificate`,
      {
        csr: key.csr,
        hostnames,
        requestType: "origin-ecc",
        requestedValidity: args.validityDays ?? 5475,
      },
      { parent: this },
    );
    this.bundle = pulumi.secret(
      pulumi.all([cert.certificate, key.privateKey]).apply(([c, k]) => `${c.trim()}\n${k.trim()}\n`),
    );
    this.expiresOn = cert.expiresOn;
    this.registerOutputs({ bundle: this.bundle, expiresOn: this.expiresOn });
  }
}
