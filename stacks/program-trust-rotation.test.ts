// Rotating release keys under berth:trust changes no node: the hetzner example is run twice under
// Pulumi mocks, before (signing key A) and after (signing key B, A revoked). The server's inputs,
// user data included, are the same; only the trust set (and what B signs) changes.
import { describe, expect, it, vi } from "vitest";
import { generateSigningKeyPair, keyIdOf } from "../contract/payload";

const root = generateSigningKeyPair();
const a = generateSigningKeyPair();
const b = generateSigningKeyPair();

async function runWith(signing: string, trust: unknown) {
  vi.resetModules();
  const p = await import("./testdata/program");
  const config = {
    ...p.withTestApp(p.exampleConfig("Pulumi.hetzner.example.yaml")),
    ...p.SECRETS,
    "berth:signingKey": signing,
    "berth:trust": JSON.stringify(trust),
    "berth:trustRootKey": root.privateKey,
  };
  return p.runProgram("hetzner", config, [...Object.keys(p.SECRETS), "berth:trustRootKey"]);
}

describe("key rotation under berth:trust (mocks)", () => {
  it("leaves the server as it was and changes the trust set", async () => {
    const before = await runWith(a.privateKey, { rootKeys: [root.publicKey] });
    const after = await runWith(b.privateKey, {
      rootKeys: [root.publicKey],
      releaseKeys: [b.publicKey],
      revoked: [a.publicKey],
    });
    const server = (r: typeof before) =>
      r.created.find((x) => x.type === "hcloud:index/server:Server")?.inputs;
    const trustSet = (r: typeof before) => r.created.find((x) => x.name === "channel-trust-set")?.inputs;
    expect(server(before)?.userData).toBeDefined();
    expect(server(after)).toEqual(server(before));
    expect(trustSet(before)).toMatchObject({ releaseKeys: [a.publicKey], revoked: [] });
    expect(trustSet(after)).toMatchObject({ releaseKeys: [b.publicKey], revoked: [keyIdOf(a.publicKey)] });
  }, 60_000);
});
