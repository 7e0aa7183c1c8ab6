import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  generateNodeKeyPair,
  generateSigningKeyPair,
  TrustedKeys,
  unsealSecrets,
  verifyRelease,
} from "../payload";
import { secretVersion, swarmObjectName } from "../swarm/names";
import { swarmImages, swarmManifest } from "../swarm/testdata";
import { buildRelease, type ReleaseInput } from "./build";

const signing = generateSigningKeyPair();
const node = generateNodeKeyPair();
const versionKey = Buffer.alloc(32, 9);
const m = swarmManifest();
const input: ReleaseInput = {
  manifest: m,
  environmentId: "shop",
  nodeId: "web-1",
  sequence: 3,
  images: swarmImages(m),
  secrets: { "api-token": "s3cret-value" },
  nodePublicKey: node.publicKey,
  signingKey: signing.privateKey,
  swarm: { volumeNodes: { data: "web-2" }, versionKey },
};

describe("buildRelease on a node group", () => {
  it("signs the stack rendered for Swarm, the secret sealed to the manager and versioned by its value", () => {
    const built = buildRelease(input);
    const { payload } = verifyRelease(built.text, {
      trustedKeys: new TrustedKeys([signing.publicKey]),
      environmentId: "shop",
      nodeId: "web-1",
      appliedSequence: 2,
      keySequence: 3,
    });
    const doc = parse(payload.compose.text);
    expect(doc["x-berth"].stack).toBe("berth-shop");
    expect(doc.services.web.deploy.replicas).toBe(3);
    expect(doc.secrets.api_token.name).toBe(
      swarmObjectName("shop", "api_token", secretVersion(versionKey, "shop", "api-token", "s3cret-value")),
    );
    expect(built.text).not.toContain("s3cret-value");
    expect(unsealSecrets(payload, node.privateKey).get("api-token")).toBe("s3cret-value");
  });

  it("refuses backups on a node group (not built yet), saying what to do", () => {
    expect(() =>
      buildRelease({
        ...input,
        backup: {
          target: { endpoint: "http://127.0.0.1:1", bucket: "b", region: "auto", prefix: "" },
        } as unknown as NonNullable<ReleaseInput["backup"]>,
      }),
    ).toThrow(/backups of an environment on a node group are not built yet/);
  });
});
