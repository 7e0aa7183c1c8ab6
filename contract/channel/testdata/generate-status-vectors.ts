// Writes contract/channel/testdata/status-vectors.json: a status signed with a fixed TEST-ONLY
// status key, and an identity document MACed with a fixed TEST-ONLY enrollment secret. All
// deterministic (Ed25519 and HMAC are), so re-running it gives the same file.
//
//   npx tsx contract/channel/testdata/generate-status-vectors.ts
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadNodePrivateKey, loadSigningPrivateKey, publicKeyText, toBase64Url } from "../../payload";
import { enrollmentSecretFor, identityDocument } from "../node-identity";
import type { EnvironmentStatus } from "../status";
import { signStatus } from "../status-signature";

function testOnly(label: string): string {
  return toBase64Url(createHash("sha256").update(`berth TEST-ONLY key, never trust: ${label}`).digest());
}

export function buildStatusVectors() {
  const statusPrivateKey = testOnly("status key of node-a");
  const statusKey = publicKeyText(loadSigningPrivateKey(statusPrivateKey));
  const sealingPrivateKey = testOnly("sealing key of node-a");
  const publicKey = publicKeyText(loadNodePrivateKey(sealingPrivateKey));
  const signingKey = testOnly("program signing key"); // the stack's enrollment key in these vectors
  const enrollmentSecret = enrollmentSecretFor(signingKey, "node-a");
  const status: EnvironmentStatus = {
    formatVersion: 1,
    nodeId: "node-a",
    environmentId: "demo",
    appliedSequence: 7,
    attemptedSequence: 7,
    state: "applied",
    services: [{ name: "web", state: "running", health: "healthy" }],
    heartbeat: { at: "2026-12-06T08:00:00.000Z", agentVersion: "0.1.0", intervalSeconds: 30 },
    updatedAt: "2026-12-06T08:00:00.000Z",
  };
  return {
    keys: { statusPrivateKey, statusKey, sealingPrivateKey, publicKey, signingKey, enrollmentSecret },
    status,
    signedStatus: signStatus(status, statusPrivateKey),
    identity: identityDocument(
      {
        nodeId: "node-a",
        publicKey,
        statusKey,
        agentVersion: "0.1.0",
        publishedAt: "2026-12-06T08:00:00.000Z",
      },
      enrollmentSecret,
    ),
  };
}

if (require.main === module) {
  writeFileSync(join(__dirname, "status-vectors.json"), `${JSON.stringify(buildStatusVectors(), null, 2)}\n`);
}
