import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { environmentBackupSchema } from "../backup/schema";
import {
  generateNodeKeyPair,
  generateSigningKeyPair,
  TrustedKeys,
  unsealSecrets,
  verifyRelease,
} from "../payload";
import { secretVersion, swarmObjectName } from "../swarm/names";
import { parseSwarmExtras } from "../swarm/render";
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

  it("carries the backups with each volume's holder; the backup secrets sealed to the leader only", () => {
    const backup = environmentBackupSchema.parse({
      target: { endpoint: "http://127.0.0.1:7070", bucket: "backups" },
    });
    const secrets = {
      ...input.secrets,
      "backup-password": "pw-9d1",
      "backup-access-key-id": "AKID-1",
      "backup-secret-access-key": "sk-77a",
    };
    const built = buildRelease({ ...input, secrets, backup });
    const extras = parseSwarmExtras(parse(built.rendered.text)["x-berth"]);
    expect(extras?.backup).toMatchObject({
      repository: "s3:http://127.0.0.1:7070/backups/shop",
      volumes: [{ name: "data", node: "web-2", schedule: "0 3 * * *", stop: [] }],
    });
    for (const v of ["pw-9d1", "AKID-1", "sk-77a"]) expect(built.text).not.toContain(v);
    expect(() => buildRelease({ ...input, backup })).toThrow(/the environment's backups need the secrets/);
  });

  it("refuses what a node group cannot back up, saying what to do", () => {
    const m2 = swarmManifest();
    const data = m2.volumes.data as NonNullable<(typeof m2.volumes)[string]>;
    data.backup = { enabled: true, stop: ["store"] };
    const backup = environmentBackupSchema.parse({
      target: { endpoint: "http://127.0.0.1:7070", bucket: "backups" },
      restore: { volume: "data" },
    });
    const secrets = {
      ...input.secrets,
      "backup-password": "p",
      "backup-access-key-id": "a",
      "backup-secret-access-key": "s",
    };
    let message = "";
    try {
      buildRelease({ ...input, manifest: m2, secrets, backup });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(
      /volumes\.data\.x-berth-backup\.stop: on a node group Swarm restarts a stopped task/,
    );
    expect(message).toMatch(/backup\.restore: a restore through the program is not built on a node group/);
  });
});
