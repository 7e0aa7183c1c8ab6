import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FolderChannelStore } from "../../contract/channel/folder-store";
import { channelKeys } from "../../contract/channel/layout";
import { generateSigningKeyPair, keyIdOf } from "../../contract/payload";
import { createTrustSetPayload, signTrustSet } from "../../contract/trust";
import { createLogger } from "../../lib/log";
import { TrustStore } from "./trust-store";

const root = generateSigningKeyPair();
const a = generateSigningKeyPair();
const b = generateSigningKeyPair();
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup() {
  const dir = mkdtempSync(join(tmpdir(), "berth-trust-"));
  dirs.push(dir);
  const channel = new FolderChannelStore(join(dir, "channel"));
  const log = createLogger("trust-test");
  log.level = "silent";
  const make = () =>
    new TrustStore({
      stateRoot: join(dir, "state"),
      config: { trustRoots: [root.publicKey], trustedKeys: [a.publicKey] },
      channel,
      log,
    });
  const publish = (
    generation: number,
    releaseKeys: string[],
    revoked: string[] = [],
    signer = root.privateKey,
  ) =>
    channel.put(
      channelKeys.trustSet,
      JSON.stringify(
        signTrustSet(createTrustSetPayload({ generation, roots: [root.publicKey], releaseKeys, revoked }), [
          signer,
        ]),
      ),
    );
  return { make, publish, channel };
}

describe("TrustStore", () => {
  it("starts from the config, takes a trust set, keeps it and its floor across a restart", async () => {
    const { make, publish } = setup();
    const s = make();
    const keys = s.keys; // held by verifiers: it follows the store
    expect(keys.ids).toEqual([keyIdOf(a.publicKey)]);
    expect(await s.refresh()).toBe(false); // nothing published
    await publish(1, [a.publicKey, b.publicKey]);
    expect(await s.refresh()).toBe(true);
    expect(await s.refresh()).toBe(false); // the same again
    await publish(2, [b.publicKey], [keyIdOf(a.publicKey)]);
    expect(await s.refresh()).toBe(true);
    expect(keys.ids).toEqual([keyIdOf(b.publicKey)]);
    expect(keys.get(keyIdOf(a.publicKey))).toBeUndefined();

    const again = make();
    expect(again.generation).toBe(2);
    expect(again.keys.ids).toEqual([keyIdOf(b.publicKey)]);
    // The older trust set put back by a channel writer is refused and reported.
    await publish(1, [a.publicKey, b.publicKey]);
    expect(await again.refresh()).toBe(false);
    expect(again.status().refused?.reason).toMatch(/^STALE_GENERATION/);
    expect(again.keys.ids).toEqual([keyIdOf(b.publicKey)]);
  });

  it("a trust set signed by a release key is refused; a removed trust set changes nothing", async () => {
    const { make, publish, channel } = setup();
    const s = make();
    await publish(7, [a.publicKey, b.publicKey], [], a.privateKey);
    expect(await s.refresh()).toBe(false);
    expect(s.status().refused?.reason).toMatch(/^UNTRUSTED_SIGNER/);
    await publish(1, [b.publicKey], [keyIdOf(a.publicKey)]);
    expect(await s.refresh()).toBe(true);
    await channel.delete(channelKeys.trustSet);
    expect(await s.refresh()).toBe(false);
    expect(s.keys.ids).toEqual([keyIdOf(b.publicKey)]);
  });
});
