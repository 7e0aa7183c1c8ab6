// Key rotation on a running node, against the real agent (real Docker, HAProxy, a folder channel)
// and the TrustSet provider's own publishing: the node starts trusting release key A and root R
// (its config, i.e. its user data). Add key B, release with B, revoke A: an A-signed release is
// then refused, the app keeps answering with B's release, and the node's config never changed.
// A trust set signed by the leaked key A cannot bring A back. Each attempt is its own test.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  create as createTrustSet,
  type TrustSetInputs,
  type TrustSetOutputs,
  update as updateTrustSet,
} from "../../components/runtime/trust-set";
import { channelKeys } from "../../contract/channel/layout";
import { readStatus } from "../../contract/channel/publish";
import { generateSigningKeyPair, keyIdOf } from "../../contract/payload";
import { type AgentStatus, createTrustSetPayload, signTrustSet } from "../../contract/trust";
import { AgentHarness, appManifest } from "./support/agent-harness";
import { testAppImage } from "./support/test-app-image";

const ENV = `rotation-${Math.random().toString(36).slice(2, 6)}`;
const HOST = `${ENV}.test`;
const h = new AgentHarness();
const root = generateSigningKeyPair();
const a = h.signing; // the node's first release key, from its config
const b = generateSigningKeyPair();
let image = "";
let configText = "";
let published: TrustSetOutputs;

const inputs = (releaseKeys: string[], revoked: string[] = []): TrustSetInputs => ({
  berthKind: "trust-set",
  berthProviderVersion: "1",
  channel: { kind: "folder", path: h.channelDir },
  rootKey: root.privateKey,
  roots: [root.publicKey],
  threshold: 1,
  releaseKeys,
  revoked,
  validityDays: 30,
  renewBeforeDays: 10,
});

/** The agent's status, verified with the node's status key (a forged one throws). */
async function agentStatus(): Promise<AgentStatus> {
  const s = await h.agentStatus();
  if (!s) throw new Error("the agent has not written its status");
  return s;
}

beforeAll(async () => {
  image = await testAppImage();
  await h.start({ healthTimeoutSeconds: 30, trustRoots: [root.publicKey] });
  configText = readFileSync(h.configFile, "utf8");
  const v1 = await h.deploy(ENV, 1, appManifest({ message: "v1", image, host: HOST }));
  expect(v1.state, v1.error).toBe("applied");
}, 600_000);
afterAll(async () => {
  await h.cleanup([ENV]);
});

describe("key rotation through the channel", () => {
  it("add B: a release signed with B applies", async () => {
    published = (await createTrustSet(inputs([a.publicKey, b.publicKey]))).outs as TrustSetOutputs;
    expect(published.generation).toBe(1);
    const s = await h.deploy(ENV, 2, appManifest({ message: "v2", image, host: HOST }), { signing: b });
    expect(s.state, s.error).toBe("applied");
    expect(await h.get("/", HOST)).toEqual({ status: 200, body: "v2" });
    expect((await agentStatus()).trust).toMatchObject({ generation: 1 });
  });

  it("revoke A: an A-signed release is refused, the app keeps answering, the node's config is unchanged", async () => {
    published = (await updateTrustSet("id", published, inputs([b.publicKey], [keyIdOf(a.publicKey)])))
      .outs as TrustSetOutputs;
    expect(published.generation).toBe(2);
    const s = await h.deploy(ENV, 3, appManifest({ message: "evil", image, host: HOST }), { signing: a });
    expect(s.state).toBe("rejected");
    expect(s.error).toMatch(/UNKNOWN_KEY/);
    expect(await h.get("/", HOST)).toEqual({ status: 200, body: "v2" });
    const st = await agentStatus();
    expect(st.trust).toMatchObject({
      generation: 2,
      releaseKeyIds: [keyIdOf(b.publicKey)],
      revoked: [keyIdOf(a.publicKey)],
    });
    // The node was not rebuilt or reconfigured: its config (its user data) is byte for byte the same.
    expect(readFileSync(h.configFile, "utf8")).toBe(configText);
    // And B still works afterwards.
    const ok = await h.deploy(ENV, 4, appManifest({ message: "v4", image, host: HOST }), { signing: b });
    expect(ok.state, ok.error).toBe("applied");
  });

  it("the leaked key A cannot sign its way back: its trust set is refused and reported", async () => {
    const forged = signTrustSet(
      createTrustSetPayload({
        generation: 99,
        roots: [root.publicKey],
        releaseKeys: [a.publicKey, b.publicKey],
        revoked: [],
      }),
      [a.privateKey],
    );
    await h.channel.put(channelKeys.trustSet, JSON.stringify(forged));
    const s = await h.deploy(ENV, 5, appManifest({ message: "evil", image, host: HOST }), { signing: a });
    expect(s.state).toBe("rejected");
    const st = await agentStatus();
    expect(st.trust.generation).toBe(2);
    expect(st.trust.refused?.reason).toMatch(/^UNTRUSTED_SIGNER/);
    expect(await h.get("/", HOST)).toEqual({ status: 200, body: "v4" });
  });

  it("an older, validly signed trust set put back by a channel writer is refused (the generation floor)", async () => {
    const older = signTrustSet(
      createTrustSetPayload({
        generation: 1,
        roots: [root.publicKey],
        releaseKeys: [a.publicKey, b.publicKey],
        revoked: [],
      }),
      [root.privateKey],
    );
    await h.channel.put(channelKeys.trustSet, JSON.stringify(older));
    const s = await h.deploy(ENV, 6, appManifest({ message: "evil", image, host: HOST }), { signing: a });
    expect(s.state).toBe("rejected");
    expect((await agentStatus()).trust.refused?.reason).toMatch(/^STALE_GENERATION/);
    const status = await readStatus(h.channel, h.nodeId, ENV);
    expect(status?.appliedSequence).toBe(4);
  });
});
