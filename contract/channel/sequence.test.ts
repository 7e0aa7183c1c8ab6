import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  createReleasePayload,
  generateNodeKeyPair,
  generateSigningKeyPair,
  serializeEnvelope,
  signRelease,
} from "../payload";
import { FolderChannelStore } from "./folder-store";
import { channelKeys } from "./layout";
import { publishRelease, withdrawEnvironment } from "./publish";
import { nextSequence, releaseKeySequences } from "./sequence";

const key = generateSigningKeyPair();
const node = generateNodeKeyPair();

function envelope(seq: number, signing = key) {
  const payload = createReleasePayload({
    environmentId: "shop",
    nodeId: "node-1",
    sequence: seq,
    composeText: "{}",
    routes: [],
    secrets: {},
    nodePublicKey: node.publicKey,
    issuedAt: new Date("2020-01-01T00:00:00Z"),
  });
  return serializeEnvelope(signRelease(payload, signing.privateKey));
}

describe("nextSequence", () => {
  it("reads release keys' numbers, highest first, and ignores what is no sequence", () => {
    expect(
      releaseKeySequences([
        "a/releases/3.json",
        "a/releases/12.json",
        "a/releases/0.json",
        "a/releases/x.json",
        "a/releases/99999999999999999.json",
      ]),
    ).toEqual([12, 3]);
  });

  it("counts only releases signed with the program's key under their own sequence, and a verified withdrawal", async () => {
    const ch = new FolderChannelStore(mkdtempSync(join(tmpdir(), "berth-seq-")));
    const o = { nodeId: "node-1", environmentId: "shop", floor: 0, signingKey: key.privateKey };
    expect(await nextSequence(ch, o)).toBe(1);
    await publishRelease(ch, { nodeId: "node-1", environmentId: "shop", sequence: 4, envelope: envelope(4) });
    // Junk with huge numbers: not JSON, another key's release, our release 4 copied under a big number.
    await ch.put(channelKeys.release("node-1", "shop", 9007199254740991), "junk");
    await ch.put(
      channelKeys.release("node-1", "shop", 9007199254740990),
      envelope(9007199254740990, generateSigningKeyPair()),
    );
    await ch.put(channelKeys.release("node-1", "shop", 1000000), envelope(4));
    expect(await nextSequence(ch, o)).toBe(5);
    // Its own state's floor counts (an expired release counts as well: it was published).
    expect(await nextSequence(ch, { ...o, floor: 7 })).toBe(8);
    await withdrawEnvironment(ch, {
      nodeId: "node-1",
      environmentId: "shop",
      sequence: 5,
      signingKey: key.privateKey,
    });
    expect(await ch.get(channelKeys.desired("node-1", "shop"))).toBeUndefined();
    expect(await nextSequence(ch, o)).toBe(6);
  });
});
