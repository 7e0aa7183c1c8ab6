// The key and certificate signing request behind a Cloudflare Origin CA certificate. The key is
// made here (EC P-256, node:crypto) and kept in the state as a secret; the CSR is made with the
// openssl CLI (lib/openssl.ts: node:crypto makes keys but not CSRs). A change of host names makes a new key.
import { generateKeyPairSync } from "node:crypto";
import type * as pulumi from "@pulumi/pulumi";
import { certificateRequest } from "../../lib/openssl";

export interface OriginKeyInputs {
  berthKind: "origin-key-request";
  berthProviderVersion: string;
  hostnames: string[];
}

export interface OriginKeyOutputs extends OriginKeyInputs {
  privateKey: string;
  csr: string;
}

const HOST = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/;

export async function check(_olds: unknown, news: OriginKeyInputs): Promise<pulumi.dynamic.CheckResult> {
  const failures: pulumi.dynamic.CheckFailure[] = [];
  if (!Array.isArray(news.hostnames) || news.hostnames.length === 0)
    failures.push({ property: "hostnames", reason: "name at least one host for the origin certificate" });
  else
    for (const h of news.hostnames)
      if (typeof h === "string" && !HOST.test(h))
        failures.push({
          property: "hostnames",
          reason: `${JSON.stringify(h)} is not a fully qualified host name (a leading *. is allowed)`,
        });
  return { inputs: news, failures };
}

export async function makeKeyRequest(
  hostnames: readonly string[],
): Promise<{ privateKey: string; csr: string }> {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  return { privateKey: pem, csr: await certificateRequest(pem, hostnames) };
}

export async function create(news: OriginKeyInputs): Promise<pulumi.dynamic.CreateResult> {
  const made = await makeKeyRequest(news.hostnames);
  return { id: `origin-key-${news.hostnames[0]}`, outs: { ...news, ...made } satisfies OriginKeyOutputs };
}

export async function diff(
  _id: string,
  olds: OriginKeyOutputs,
  news: OriginKeyInputs,
): Promise<pulumi.dynamic.DiffResult> {
  const changed = JSON.stringify(olds.hostnames) !== JSON.stringify(news.hostnames);
  return { changes: changed, ...(changed ? { replaces: ["hostnames"], deleteBeforeReplace: false } : {}) };
}
