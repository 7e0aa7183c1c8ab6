import { createPublicKey } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { run } from "../../lib/process";
import { check, create, diff, type OriginKeyInputs, type OriginKeyOutputs } from "./origin-key";

const inputs = (hostnames: string[]): OriginKeyInputs => ({
  berthKind: "origin-key-request",
  berthProviderVersion: "1",
  hostnames,
});

describe("the origin certificate's key request (dynamic provider, called directly)", () => {
  it("makes an EC P-256 key and a CSR for the hosts that openssl verifies and that holds that key", async () => {
    const r = await create(inputs(["shop.example.com", "*.api.example.com"]));
    const outs = r.outs as OriginKeyOutputs;
    expect(createPublicKey(outs.privateKey).asymmetricKeyDetails).toEqual({ namedCurve: "prime256v1" });
    const dir = mkdtempSync(join(tmpdir(), "berth-csr-test-"));
    try {
      writeFileSync(join(dir, "csr.pem"), outs.csr);
      const text = await run("openssl", ["req", "-in", join(dir, "csr.pem"), "-verify", "-noout", "-text"]);
      expect(text.stdout).toContain("DNS:shop.example.com, DNS:*.api.example.com");
      const pub = await run("openssl", ["req", "-in", join(dir, "csr.pem"), "-noout", "-pubkey"]);
      expect(createPublicKey(pub.stdout).export({ type: "spki", format: "der" })).toEqual(
        createPublicKey(outs.privateKey).export({ type: "spki", format: "der" }),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses hosts Cloudflare would refuse, at preview", async () => {
    const r = await check(undefined, inputs(["shop", "Bad_Host.example.com"]));
    expect(r.failures?.map((f) => f.reason)).toEqual([
      '"shop" is not a fully qualified host name (a leading *. is allowed)',
      '"Bad_Host.example.com" is not a fully qualified host name (a leading *. is allowed)',
    ]);
    expect((await check(undefined, inputs([]))).failures).toHaveLength(1);
  });

  it("makes a new key (a replacement) only when the hosts change", async () => {
    const olds = { ...inputs(["a.example.com"]), privateKey: "k", csr: "c" };
    expect(await diff("id", olds, inputs(["a.example.com"]))).toEqual({ changes: false });
    expect(await diff("id", olds, inputs(["a.example.com", "b.example.com"]))).toMatchObject({
      changes: true,
      replaces: ["hostnames"],
    });
  });
});
