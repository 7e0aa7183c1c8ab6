// Property tests (fast-check): canonical encoding, sign→verify round trips, and that any one
// changed character or byte of a signed envelope is rejected.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "./canonical";
import { ReleaseVerificationError } from "./errors";
import { generateNodeKeyPair, generateSigningKeyPair } from "./keys";
import { createReleasePayload, type ReleaseInput } from "./release";
import type { Route } from "./schema";
import { unsealSecrets } from "./seal";
import { serializeEnvelope, signAndSerialize, signRelease } from "./sign";
import { TrustedKeys, verifyRelease } from "./verify";

const signing = generateSigningKeyPair();
const node = generateNodeKeyPair();
const trustedKeys = new TrustedKeys([signing.publicKey, generateSigningKeyPair().publicKey]);

/** The same JSON value with the keys of every object in another order. */
function shuffleKeys(value: unknown, rand: () => number): unknown {
  if (Array.isArray(value)) return value.map((v) => shuffleKeys(v, rand));
  if (value === null || typeof value !== "object") return value;
  const entries = Object.entries(value).map(([k, v]) => [k, shuffleKeys(v, rand)] as const);
  for (let i = entries.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [entries[i], entries[j]] = [
      entries[j] as (typeof entries)[number],
      entries[i] as (typeof entries)[number],
    ];
  }
  return Object.fromEntries(entries);
}

function seeded(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

const id = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/);
const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/);
const route: fc.Arbitrary<Route> = fc.record(
  {
    service: fc.stringMatching(/^[a-z0-9][a-z0-9_.-]{0,15}$/),
    port: fc.integer({ min: 1, max: 65535 }),
    host: fc.array(label, { minLength: 1, maxLength: 4 }).map((parts) => parts.join(".")),
    path: fc.stringMatching(/^\/[\x21-\x7e]{0,20}$/),
  },
  { requiredKeys: ["service", "port", "host"] },
);
const releaseInput: fc.Arbitrary<Omit<ReleaseInput, "nodePublicKey">> = fc.record({
  environmentId: id,
  nodeId: id,
  sequence: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  composeText: fc.string({ unit: "grapheme", maxLength: 300 }),
  routes: fc.array(route, { maxLength: 4 }),
  secrets: fc.dictionary(
    fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,15}$/),
    fc.string({ unit: "grapheme", maxLength: 40 }),
    {
      maxKeys: 3,
    },
  ),
  issuedAt: fc.date({
    min: new Date("2000-01-01T00:00:00Z"),
    max: new Date("2200-01-01T00:00:00Z"),
    noInvalidDate: true,
  }),
});

function signed(input: Omit<ReleaseInput, "nodePublicKey">) {
  const payload = createReleasePayload({ ...input, nodePublicKey: node.publicKey });
  const envelope = signRelease(payload, signing.privateKey);
  const verifyAs = {
    trustedKeys,
    environmentId: input.environmentId,
    nodeId: input.nodeId,
    appliedSequence: input.sequence - 1,
    now: input.issuedAt,
  };
  return { payload, envelope, verifyAs };
}

function rejected(fn: () => unknown): boolean {
  try {
    fn();
    return false;
  } catch (error) {
    if (error instanceof ReleaseVerificationError) return true;
    throw error;
  }
}

describe("properties", () => {
  it("canonical encoding is stable under key order (and idempotent)", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.integer(), (value, seed) => {
        const canonical = canonicalJson(value);
        expect(canonicalJson(shuffleKeys(value, seeded(seed)))).toBe(canonical);
        expect(canonicalJson(JSON.parse(canonical))).toBe(canonical);
      }),
      { numRuns: 300 },
    );
  });

  it("sign → verify round-trips generated payloads, secrets included", () => {
    fc.assert(
      fc.property(releaseInput, fc.integer(), (input, seed) => {
        const { payload, envelope, verifyAs } = signed(input);
        const shuffled = shuffleKeys(JSON.parse(serializeEnvelope(envelope)), seeded(seed));
        for (const form of [envelope, serializeEnvelope(envelope), JSON.stringify(shuffled, null, 2)]) {
          const verified = verifyRelease(form, verifyAs);
          expect(verified.payload).toEqual(payload);
          expect(verified.keyId).toBe(signing.keyId);
        }
        expect(Object.fromEntries(unsealSecrets(payload, node.privateKey))).toEqual(input.secrets);
      }),
      { numRuns: 60 },
    );
  });

  it("signAndSerialize gives the envelope and text of signRelease + serializeEnvelope", () => {
    fc.assert(
      fc.property(releaseInput, (input) => {
        const payload = createReleasePayload({ ...input, nodePublicKey: node.publicKey });
        const both = signAndSerialize(payload, signing.privateKey);
        expect(both.text).toBe(serializeEnvelope(signRelease(payload, signing.privateKey)));
        expect(both.text).toBe(serializeEnvelope(both.envelope));
      }),
      { numRuns: 60 },
    );
  });

  it("changing any one character of a signed envelope makes verification fail", () => {
    fc.assert(
      fc.property(
        releaseInput,
        fc.nat(),
        fc.constantFrom(...'azAZ09-_.:,{}[]"\\/ \n0é😀'),
        (input, at, replacement) => {
          const { envelope, verifyAs } = signed(input);
          const text = serializeEnvelope(envelope);
          const chars = [...text];
          const i = at % chars.length;
          fc.pre(chars[i] !== replacement);
          chars[i] = replacement;
          expect(rejected(() => verifyRelease(chars.join(""), verifyAs))).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("flipping bits of any one byte of a signed envelope makes verification fail", () => {
    fc.assert(
      fc.property(releaseInput, fc.nat(), fc.integer({ min: 1, max: 255 }), (input, at, mask) => {
        const { envelope, verifyAs } = signed(input);
        const bytes = Buffer.from(serializeEnvelope(envelope), "utf8");
        const i = at % bytes.length;
        bytes[i] = (bytes[i] ?? 0) ^ mask;
        expect(rejected(() => verifyRelease(bytes, verifyAs))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
