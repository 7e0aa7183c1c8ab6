// Release history and rollback against a real agent (Docker, HAProxy, folder channel): releases
// 1 and 2 applied, then a rollback to 1 built the way the Release publishes it (content of 1 from
// the channel, signature checked, re-sequenced as 3, sealed with the current secrets, signed
// anew): the node verifies and applies it like any release and serves release 1's content.
// `berth releases` lists the history with statuses, signer and pinned images.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../cli/main";
import { channelKeys } from "../../contract/channel/layout";
import { publishRelease, waitForOutcome } from "../../contract/channel/publish";
import type { EnvironmentStatus } from "../../contract/channel/status";
import { signStatus, unverifiedStatus } from "../../contract/channel/status-signature";
import { generateSigningKeyPair } from "../../contract/payload";
import { buildRollback } from "../../contract/release/history";
import { REGISTRY_CREDENTIALS_SECRET } from "../../contract/release/registry-credentials";
import { AgentHarness, appManifest } from "./support/agent-harness";
import { registryCredentials, testAppImage } from "./support/test-app-image";

const ENV = `hist-${Math.random().toString(36).slice(2, 6)}`;
const h = new AgentHarness();
let image = "";

async function berth(...args: string[]) {
  let out = "";
  let err = "";
  const { nodeIo } = await import("../../cli/io");
  const io = { ...nodeIo(), out: (s: string) => (out += `${s}\n`), err: (s: string) => (err += `${s}\n`) };
  const code = await main(args, io);
  return { code, out, err };
}

beforeAll(async () => {
  image = await testAppImage();
  await h.start({ healthTimeoutSeconds: 20 });
}, 600_000);
afterAll(async () => {
  await h.cleanup([ENV]);
});

describe("release history and rollback", () => {
  it("rolls back to release 1 with a new release 3 that the node verifies and applies", async () => {
    expect((await h.deploy(ENV, 1, appManifest({ message: "v1", image }))).state).toBe("applied");
    expect((await h.deploy(ENV, 2, appManifest({ message: "v2", image }))).state).toBe("applied");
    expect(await h.get("/")).toEqual({ status: 200, body: "v2" });

    const text = await h.channel.get(`nodes/${h.nodeId}/environments/${ENV}/releases/1.json`);
    const rolled = buildRollback({
      text: text as string,
      environmentId: ENV,
      nodeId: h.nodeId,
      sequence: 3,
      secrets: { token: h.token, [REGISTRY_CREDENTIALS_SECRET]: JSON.stringify(registryCredentials()) },
      nodePublicKey: h.agent.publicKey,
      signingKey: h.signing.privateKey,
    });
    expect(rolled.payload.compose.text).toContain("release 3.");
    await publishRelease(h.channel, {
      nodeId: h.nodeId,
      environmentId: ENV,
      sequence: 3,
      envelope: rolled.text,
    });
    await h.agent.pollOnce();
    const s = await waitForOutcome(h.channel, {
      nodeId: h.nodeId,
      environmentId: ENV,
      sequence: 3,
      timeoutMs: 5000,
    });
    expect(s, s.error).toMatchObject({ state: "applied", appliedSequence: 3 });
    expect(await h.get("/")).toEqual({ status: 200, body: "v1" });
    expect(await h.get("/token-length")).toEqual({ status: 200, body: String(h.token.length) });
    const web = (await h.containers(ENV)).filter((c) => c.service === "web");
    expect(web.map((c) => `${c.project}/${c.release}`)).toEqual([`berth_${ENV}_r3/3`]);
  }, 180_000);

  it("refuses to roll back to a release whose signature does not verify", async () => {
    const text = (await h.channel.get(`nodes/${h.nodeId}/environments/${ENV}/releases/2.json`)) as string;
    const tampered = text.replace('\\"v2\\"', '\\"evil\\"');
    expect(tampered).not.toBe(text);
    expect(() =>
      buildRollback({
        text: tampered,
        environmentId: ENV,
        nodeId: h.nodeId,
        sequence: 4,
        secrets: { token: h.token },
        nodePublicKey: h.agent.publicKey,
        signingKey: h.signing.privateKey,
      }),
    ).toThrow(/signature/i);
  });

  it("berth releases lists sequence, time, status, signer and images by digest, newest first", async () => {
    const key = join(h.root, "signing.pub");
    writeFileSync(key, h.signing.publicKey);
    const r = await berth("releases", ENV, "--channel", h.channelDir, "--trusted-key", key);
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trim().split("\n");
    expect(lines[0]).toBe(`${ENV} on ${h.nodeId}:`);
    const rows = lines.slice(2).filter((l) => /^\s+\d+\s/.test(l));
    expect(rows.map((l) => l.trim().split(/\s+/).slice(0, 1)[0])).toEqual(["3", "2", "1"]);
    expect(rows[0]).toMatch(
      /\s3\s+\d{4}-\d\d-\d\dT\S+Z\s+running\s+ed25519:[0-9a-f]{32}\s+store=\S+@sha256:[0-9a-f]{64} web=\S+@sha256:/,
    );
    expect(rows[1]).toMatch(/\s2\s.*\s(applied|superseded)\s/);
    expect(rows[2]).toMatch(/\s1\s.*\s(applied|superseded)\s/);
    const json = JSON.parse((await berth("releases", ENV, "--channel", h.channelDir, "--json")).out);
    expect(json.map((e: { sequence: number }) => e.sequence).sort()).toEqual([1, 2, 3]);
    const bad = await berth("releases", "nope", "--channel", h.channelDir);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/has no releases of nope/);
  });

  it("berth releases shows what the node says only when its status verifies against the pinned key", async () => {
    const published = (await h.channel.get(channelKeys.identity(h.nodeId))) as string;
    const pinned = (JSON.parse(published) as { statusKey: string }).statusKey;
    const key = channelKeys.status(h.nodeId, ENV);
    const genuine = (await h.channel.get(key)) as string;
    const ok = await berth("releases", ENV, "--channel", h.channelDir, `--status-key=${pinned}`);
    expect(ok.code, ok.err).toBe(0);
    expect(ok.out).toMatch(/node status: verified with ed25519:[0-9a-f]{32} \(given with --status-key\)/);
    // A channel writer's status: release 1 running, signed by a key of its own.
    const forged = {
      ...(unverifiedStatus(genuine) as EnvironmentStatus),
      appliedSequence: 1,
      attemptedSequence: 1,
    };
    await h.channel.put(key, signStatus(forged, generateSigningKeyPair().privateKey));
    try {
      const r = await berth("releases", ENV, "--channel", h.channelDir, `--status-key=${pinned}`);
      expect(r.code).toBe(1);
      expect(r.out).toMatch(/node status: NOT VERIFIED, not shown: .*given with --status-key/);
      const rows = r.out.split("\n").filter((l) => /^\s+\d+\s/.test(l));
      expect(rows).toHaveLength(3);
      for (const row of rows) expect(row).toMatch(/\sunverified\s/);
      // berth status refuses it the same way.
      const st = await berth("status", ENV, "--channel", h.channelDir, `--status-key=${pinned}`);
      expect(st.code).toBe(1);
      expect(st.out).toMatch(/signature: NOT VERIFIED/);
    } finally {
      await h.channel.put(key, genuine);
    }
  });
});
