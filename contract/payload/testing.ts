// Test helpers shared by the payload tests (not exported from index.ts).
import { generateNodeKeyPair, generateSigningKeyPair } from "./keys";
import { createReleasePayload, type ReleaseInput } from "./release";
import type { ReleasePayload } from "./schema";

export const signer = generateSigningKeyPair();
export const otherSigner = generateSigningKeyPair();
export const nodeKeys = generateNodeKeyPair();

export const NOW = new Date("2025-06-02T00:00:00.000Z");
export const SECRET_VALUE = "s3cr3t-value-that-must-never-leak";

export const composeText = "services:\n  web:\n    image: nginx@sha256:" + "0".repeat(64) + "\n";

export function makePayload(overrides: Partial<ReleaseInput> = {}): ReleasePayload {
  return createReleasePayload({
    environmentId: "staging",
    nodeId: "web-1",
    sequence: 5,
    composeText,
    routes: [{ service: "web", port: 80, host: "shop.example.test", path: "/" }],
    secrets: { DB_PASSWORD: SECRET_VALUE },
    nodePublicKey: nodeKeys.publicKey,
    issuedAt: new Date("2025-06-01T00:00:00.000Z"),
    expiresAt: new Date("2025-06-08T00:00:00.000Z"),
    ...overrides,
  });
}

export const verifyOptions = {
  trustedKeys: [signer.publicKey],
  environmentId: "staging",
  nodeId: "web-1",
  appliedSequence: 4,
  now: NOW,
};
