// The hetzner example with berth:trust under Pulumi mocks: the channel publishes a trust set as
// its child, and the node's user data holds only the trust roots, not the signing key's public
// key: rotating or revoking release keys changes no user data, so no server is replaced.
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { AGENT_CONFIG_PATH } from "../components/deployment-node/cloud-init";
import { generateSigningKeyPair, keyIdOf } from "../contract/payload";
import {
  exampleConfig,
  type ProgramRun,
  runProgram,
  SECRETS,
  signing,
  withTestApp,
} from "./testdata/program";

const root = generateSigningKeyPair();
const old = generateSigningKeyPair();
let run: ProgramRun;

describe("the hetzner example with berth:trust (mocks)", () => {
  it("runs", async () => {
    const config = {
      ...withTestApp(exampleConfig("Pulumi.hetzner.example.yaml")),
      ...SECRETS,
      "berth:trust": JSON.stringify({ rootKeys: [root.publicKey], revoked: [old.publicKey] }),
      "berth:trustRootKey": root.privateKey,
    };
    run = await runProgram("hetzner", config, [...Object.keys(SECRETS), "berth:trustRootKey"]);
  }, 30_000);

  it("publishes the trust set as a child of the channel, signed with the root key (secret)", () => {
    const ts = run.created.find((r) => r.name === "channel-trust-set");
    expect(ts?.inputs).toMatchObject({
      berthKind: "trust-set",
      roots: [root.publicKey],
      releaseKeys: [signing.publicKey],
      revoked: [keyIdOf(old.publicKey)],
      rootKey: root.privateKey,
      channel: { kind: "s3", bucket: "acme-berth-prod" },
    });
    expect(ts?.secretInputs).toEqual(expect.arrayContaining(["channel", "rootKey"]));
  });

  it("the node's agent config holds the trust roots and no release key", () => {
    const server = run.created.find((r) => r.type === "hcloud:index/server:Server");
    const ud = parse(String(server?.inputs.userData)) as { write_files: { path: string; content: string }[] };
    const agent = JSON.parse(ud.write_files.find((f) => f.path === AGENT_CONFIG_PATH)?.content ?? "{}");
    expect(agent.trustRoots).toEqual([root.publicKey]);
    expect(agent.trustedKeys).toEqual([]);
    expect(String(server?.inputs.userData)).not.toContain(signing.publicKey);
  });
});
