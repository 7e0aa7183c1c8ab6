// Writes contract/payload/testdata/vectors.json: fixed TEST-ONLY keys, payloads, their canonical
// bytes and Ed25519 signatures, sealed boxes made with fixed ephemeral keys, and envelopes a
// verifier must reject. Everything is deterministic, so re-running it gives the same file.
//
//   npx tsx contract/payload/testdata/generate-vectors.ts
//
// The keys are derived from public strings: they protect nothing and must never be trusted
// outside tests.
import { createHash, createPublicKey } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  canonicalJson,
  FORMAT_VERSION,
  keyIdOf,
  loadNodePrivateKey,
  loadSigningPrivateKey,
  publicKeyText,
  type ReleaseEnvelope,
  type ReleasePayload,
  type Route,
  type SealedSecret,
  seal,
  sealAssociatedData,
  serializeEnvelope,
  sha256Hex,
  signRelease,
  toBase64Url,
} from "../index";

function testOnlyKeyBytes(label: string): string {
  return toBase64Url(createHash("sha256").update(`berth TEST-ONLY key, never trust: ${label}`).digest());
}

function signingKey(label: string) {
  const privateKey = testOnlyKeyBytes(label);
  const key = loadSigningPrivateKey(privateKey);
  return {
    label: `TEST-ONLY Ed25519 signing key ${label}`,
    keyId: keyIdOf(key),
    publicKey: publicKeyText(key),
    privateKey,
    publicKeyPem: createPublicKey(key).export({ format: "pem", type: "spki" }).toString(),
    privateKeyPem: key.export({ format: "pem", type: "pkcs8" }).toString(),
  };
}

export function buildVectors() {
  const signingA = signingKey("A");
  const signingB = signingKey("B");
  const untrusted = signingKey("untrusted");
  const nodePrivate = testOnlyKeyBytes("node web-1");
  const node = {
    label: "TEST-ONLY X25519 node key of node web-1",
    publicKey: publicKeyText(loadNodePrivateKey(nodePrivate)),
    privateKey: nodePrivate,
  };

  const environmentId = "staging";
  const nodeId = "web-1";

  // One sealed box on its own, with every input of its derivation.
  const boxBinding = { environmentId, nodeId, sequence: 7, name: "DATABASE_PASSWORD" };
  const boxValue = "test-only value: correct horse battery staple ✓";
  const boxEphemeral = testOnlyKeyBytes("ephemeral DATABASE_PASSWORD");
  const sealedSecret = {
    description:
      "seal(value, node.publicKey, binding, { ephemeralPrivateKey }) gives box; unseal gives value",
    binding: boxBinding,
    value: boxValue,
    ephemeralPrivateKey: boxEphemeral,
    associatedData: sealAssociatedData(boxBinding).toString("utf8"),
    box: seal(boxValue, node.publicKey, boxBinding, { ephemeralPrivateKey: boxEphemeral }),
  };

  const composeText = [
    "name: staging",
    "services:",
    "  web:",
    "    image: registry.example.test/shop/web@sha256:" + "ab".repeat(32),
    "    env_file: /run/berth/staging/web.env",
    "    labels:",
    "      berth.environment: staging",
    "      berth.release: '7'",
    "      berth.service: web",
    "",
  ].join("\n");

  function release(
    name: string,
    signer: ReturnType<typeof signingKey>,
    fields: { sequence: number; routes: Route[]; secrets: Record<string, string> },
  ) {
    const binding = { environmentId, nodeId, sequence: fields.sequence };
    const secrets: SealedSecret[] = Object.keys(fields.secrets)
      .sort()
      .map((secretName) =>
        seal(
          fields.secrets[secretName] as string,
          node.publicKey,
          { ...binding, name: secretName },
          {
            ephemeralPrivateKey: testOnlyKeyBytes(`ephemeral ${name} ${secretName}`),
          },
        ),
      );
    const payload: ReleasePayload = {
      formatVersion: FORMAT_VERSION,
      environmentId,
      nodeId,
      sequence: fields.sequence,
      issuedAt: "2025-06-01T12:00:00.000Z",
      expiresAt: "2025-06-08T12:00:00.000Z",
      compose: { sha256: sha256Hex(composeText), text: composeText },
      routes: fields.routes,
      secrets,
    };
    const envelope: ReleaseEnvelope = signRelease(payload, signer.privateKey);
    const canonicalPayload = canonicalJson(payload);
    return {
      name,
      signedBy: signer.keyId,
      secretValues: fields.secrets,
      payload,
      canonicalPayload,
      canonicalPayloadSha256: sha256Hex(canonicalPayload),
      signature: envelope.signature,
      envelope: serializeEnvelope(envelope),
    };
  }

  const releases = [
    release("web release 7 signed by key A", signingA, {
      sequence: 7,
      routes: [
        { service: "web", port: 8080, host: "shop.example.test" },
        { service: "web", port: 8081, host: "shop.example.test", path: "/api" },
      ],
      secrets: { DATABASE_PASSWORD: "test-only db password", SESSION_KEY: "test-only session key" },
    }),
    release("minimal release 8 signed by key B", signingB, { sequence: 8, routes: [], secrets: {} }),
  ];
  const verifyAs = {
    environmentId,
    nodeId,
    appliedSequence: 0,
    now: "2025-06-02T00:00:00.000Z",
    trustedKeys: [signingA.publicKey, signingB.publicKey],
  };

  const base = releases[0];
  if (base === undefined) throw new Error("no release");
  const baseEnvelope = JSON.parse(base.envelope) as ReleaseEnvelope;
  const with_ = (change: (e: ReleaseEnvelope) => unknown) => {
    const copy = JSON.parse(base.envelope) as ReleaseEnvelope;
    const changed = change(copy) ?? copy;
    return typeof changed === "string" ? changed : canonicalJson(changed);
  };
  const rejections: { name: string; code: string; envelope: string; verifyAs?: Partial<typeof verifyAs> }[] =
    [
      { name: "not JSON", code: "MALFORMED_ENVELOPE", envelope: base.envelope.slice(0, -1) },
      {
        name: "format version 2",
        code: "UNSUPPORTED_FORMAT_VERSION",
        envelope: with_((e) => {
          (e.payload as { formatVersion: number }).formatVersion = 2;
        }),
      },
      {
        name: "signed by an untrusted key",
        code: "UNKNOWN_KEY",
        envelope: serializeEnvelope(signRelease(baseEnvelope.payload, untrusted.privateKey)),
      },
      {
        name: "sequence changed after signing",
        code: "BAD_SIGNATURE",
        envelope: with_((e) => {
          e.payload.sequence = 70;
        }),
      },
      {
        name: "signature of release 8 on release 7",
        code: "BAD_SIGNATURE",
        envelope: with_((e) => {
          e.signature = releases[1]?.signature ?? "";
          e.keyId = signingB.keyId;
        }),
      },
      {
        name: "another environment",
        code: "WRONG_ENVIRONMENT",
        envelope: base.envelope,
        verifyAs: { environmentId: "prod" },
      },
      { name: "another node", code: "WRONG_NODE", envelope: base.envelope, verifyAs: { nodeId: "web-2" } },
      {
        name: "issued too far in the future",
        code: "NOT_YET_VALID",
        envelope: base.envelope,
        verifyAs: { now: "2025-06-01T11:57:59.999Z" },
      },
      {
        name: "expired",
        code: "EXPIRED",
        envelope: base.envelope,
        verifyAs: { now: "2025-06-08T12:02:00.001Z" },
      },
      {
        name: "replay of the applied release",
        code: "STALE_SEQUENCE",
        envelope: base.envelope,
        verifyAs: { appliedSequence: 7 },
      },
      { name: "rollback", code: "STALE_SEQUENCE", envelope: base.envelope, verifyAs: { appliedSequence: 9 } },
    ];

  return {
    description:
      "berth release payload test vectors (format version 1). ALL KEYS AND SECRET VALUES HERE ARE TEST-ONLY " +
      "(derived from public strings): never trust these keys outside tests. Generated by generate-vectors.ts.",
    formatVersion: FORMAT_VERSION,
    keys: { signing: [signingA, signingB], untrustedSigning: untrusted, node },
    sealedSecret,
    releases,
    verifyAs,
    rejections,
  };
}

// Run as a script (npx tsx ...), not when a test imports buildVectors.
if (/generate-vectors\.[cm]?[jt]s$/.test(process.argv[1] ?? "")) {
  const out = join(__dirname, "vectors.json");
  writeFileSync(out, `${JSON.stringify(buildVectors(), null, 2)}\n`);
  console.log(`wrote ${out}`);
}
