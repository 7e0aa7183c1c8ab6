// The TrustSet provider's logic against a folder channel: what it publishes is what an agent
// accepts; each change takes the next generation, counting a root-signed set found in the
// channel; a set near its expiry is a change (the next `pulumi up` renews it).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FolderChannelStore } from "../../contract/channel/folder-store";
import { channelKeys } from "../../contract/channel/layout";
import { generateSigningKeyPair, keyIdOf } from "../../contract/payload";
import {
  acceptTrustSet,
  createTrustSetPayload,
  initialTrustState,
  signTrustSet,
  type TrustState,
} from "../../contract/trust";
import { check, create, diff, type TrustSetInputs, type TrustSetOutputs, update } from "./trust-set";

const root = generateSigningKeyPair();
const a = generateSigningKeyPair();
const b = generateSigningKeyPair();
const dir = mkdtempSync(join(tmpdir(), "berth-trust-set-"));
const inputs = (o: Partial<TrustSetInputs> = {}): TrustSetInputs => ({
  berthKind: "trust-set",
  berthProviderVersion: "1",
  channel: { kind: "folder", path: join(dir, "ch") },
  rootKey: root.privateKey,
  roots: [root.publicKey],
  threshold: 1,
  releaseKeys: [a.publicKey],
  revoked: [],
  validityDays: 30,
  renewBeforeDays: 10,
  ...o,
});

describe("TrustSet provider", () => {
  it("check names a root key that is not among the roots, and a root used as a release key", async () => {
    expect((await check({}, inputs())).failures).toEqual([]);
    const r = await check({}, inputs({ rootKey: a.privateKey, releaseKeys: [root.publicKey] }));
    expect(r.failures?.map((f) => f.property)).toEqual(["roots"]);
    const r2 = await check({}, inputs({ releaseKeys: [root.publicKey] }));
    expect(r2.failures?.[0]?.reason).toMatch(/also a root key/);
  });

  it("publishes what an agent accepts; a change is the next generation and revokes for good", async () => {
    const channel = new FolderChannelStore(join(dir, "ch"));
    let state: TrustState = initialTrustState({ trustRoots: [root.publicKey], trustedKeys: [a.publicKey] });
    const c = (await create(inputs())).outs as TrustSetOutputs;
    expect(c.generation).toBe(1);
    state = acceptTrustSet(state, await channel.get(channelKeys.trustSet)) as TrustState;
    expect(state.generation).toBe(1);

    const same = inputs();
    expect((await diff("id", c, same)).changes).toBe(false);
    const rotated = inputs({ releaseKeys: [b.publicKey], revoked: [keyIdOf(a.publicKey)] });
    expect((await diff("id", c, rotated)).changes).toBe(true);
    const u = (await update("id", c, rotated)).outs as TrustSetOutputs;
    expect(u.generation).toBe(2);
    expect(u.releaseKeyIds).toEqual([keyIdOf(b.publicKey)]);
    state = acceptTrustSet(state, await channel.get(channelKeys.trustSet)) as TrustState;
    expect(state.releaseKeys).toEqual([b.publicKey]);
    expect(state.revoked).toEqual([keyIdOf(a.publicKey)]);
  });

  it("takes its generation above a root-signed set in the channel, not above a forged one", async () => {
    const path = join(dir, "ch2");
    const channel = new FolderChannelStore(path);
    const put = (generation: number, signer: string) =>
      channel.put(
        channelKeys.trustSet,
        JSON.stringify(
          signTrustSet(
            createTrustSetPayload({
              generation,
              roots: [root.publicKey],
              releaseKeys: [a.publicKey],
              revoked: [],
            }),
            [signer],
          ),
        ),
      );
    await put(1_000_000, a.privateKey); // a channel writer's junk: not counted
    expect(
      ((await create(inputs({ channel: { kind: "folder", path } }))).outs as TrustSetOutputs).generation,
    ).toBe(1);
    await put(5, root.privateKey);
    expect(
      ((await create(inputs({ channel: { kind: "folder", path } }))).outs as TrustSetOutputs).generation,
    ).toBe(6);
  });

  it("a set within renewBeforeDays of its expiry is a change", async () => {
    const c = (await create(inputs())).outs as TrustSetOutputs;
    const soon = { ...c, expiresAt: new Date(Date.now() + 5 * 86_400_000).toISOString() };
    expect((await diff("id", soon, inputs())).changes).toBe(true);
  });
});
