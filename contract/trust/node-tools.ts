// The signed manifest of the lazy-pulling tools a cloud workspace node installs at first boot
// (berth-stargz-snapshotter and berth-estargz, tools/stargz; contract/node/lazy-pull.ts): one file
// per program and CPU architecture in the channel, and one manifest that names each file's key,
// architecture, size and SHA-256, signed by a release key. The installer in the node's user data
// (components/deployment-node/stargz-installer.ts) installs the files of its architecture only when
// the manifest verifies with a key it trusts, each file's bytes match, and each is an ELF
// executable for its CPU; anything else leaves the node on overlay2, with the reason.
//
// Channel layout (under `agent/`, which every node may read):
//   agent/stargz/manifest.json                          the signed manifest
//   agent/stargz/<build>/linux-<arch>/<program>         the files of one build
// A build's files keep their keys, so a node that read the manifest fetches the files it names
// while a newer build is published beside them.
import { sign, verify } from "node:crypto";
import { posix } from "node:path";
import * as z from "zod";
import { canonicalBytes } from "../payload/canonical";
import { fromBase64Url, sha256Hex, toBase64Url } from "../payload/encoding";
import { type KeyInput, keyIdOf, loadSigningPrivateKey } from "../payload/keys";
import { utcTimestampSchema } from "../payload/schema";
import { formatIssues } from "../payload/sign";
import type { TrustedKeys } from "../payload/verify";
import { TrustError } from "./errors";
import { keyIdSchema } from "./schema";

export const NODE_TOOLS_DOMAIN = "berth/node-tools/v1";
export const NODE_TOOLS_MANIFEST_KEY = "agent/stargz/manifest.json";
/** The programs a lazy workspace node runs, in the order they are fetched. */
export const NODE_TOOLS = ["berth-stargz-snapshotter", "berth-estargz"] as const;
export type NodeTool = (typeof NODE_TOOLS)[number];
/** The CPU architectures berth's cloud nodes have (Go's names). */
export const NODE_ARCHES = ["amd64", "arm64"] as const;
export type NodeArch = (typeof NODE_ARCHES)[number];
/** ELF's e_machine of each architecture: x86-64 (62) and AArch64 (183). */
export const ELF_MACHINE: Readonly<Record<NodeArch, number>> = { amd64: 62, arm64: 183 };
/** The largest file a manifest may name (the snapshotter is ~18 MB stripped). */
export const NODE_TOOL_MAX_BYTES = 128 * 1024 * 1024;

const buildSchema = z.string().regex(/^[0-9a-f]{16}$/, "must be 16 lowercase hex digits");

/** A file in a build's folder (scripts/setup/stargz.sh: `<dir>/linux-<arch>/<program>`). */
export const nodeToolBuildPath = (dir: string, arch: NodeArch, tool: NodeTool) =>
  posix.join(dir, `linux-${arch}`, tool);

/** A file's key in the channel. */
export const nodeToolKey = (build: string, arch: NodeArch, tool: NodeTool) =>
  `agent/stargz/${buildSchema.parse(build)}/linux-${arch}/${tool}`;

export const nodeToolFileSchema = z.strictObject({
  name: z.enum(NODE_TOOLS),
  arch: z.enum(NODE_ARCHES),
  key: z.string().regex(/^agent\/stargz\/[0-9a-f]{16}\/linux-(amd64|arm64)\/[a-z-]+$/),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lowercase hex digits"),
  bytes: z.number().int().positive().max(NODE_TOOL_MAX_BYTES),
});
export type NodeToolFile = z.infer<typeof nodeToolFileSchema>;

export const nodeToolsPayloadSchema = z.strictObject({
  domain: z.literal(NODE_TOOLS_DOMAIN),
  /** The build (the hash of tools/stargz's sources that scripts/setup/stargz.sh built). */
  build: buildSchema,
  files: z.array(nodeToolFileSchema).min(1).max(16),
  issuedAt: utcTimestampSchema,
});
export type NodeToolsPayload = z.infer<typeof nodeToolsPayloadSchema>;

export const nodeToolsManifestSchema = z.strictObject({
  payload: nodeToolsPayloadSchema,
  keyId: keyIdSchema,
  signature: z.string().regex(/^[A-Za-z0-9_-]{86}$/, "must be 64 bytes in base64url"),
});
export type NodeToolsManifest = z.infer<typeof nodeToolsManifestSchema>;

/** The architecture an ELF executable was built for, or why it is not one berth's nodes run. */
export function elfArch(bytes: Uint8Array): NodeArch | string {
  if (bytes.length < 20 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46)
    return "not an ELF file";
  if (bytes[4] !== 2 || bytes[5] !== 1) return "not a 64-bit little-endian ELF file";
  const machine = (bytes[18] ?? 0) | ((bytes[19] ?? 0) << 8);
  const arch = NODE_ARCHES.find((a) => ELF_MACHINE[a] === machine);
  return arch ?? `an ELF file for machine ${machine}, neither x86-64 nor AArch64`;
}

export interface NodeToolInput {
  name: NodeTool;
  arch: NodeArch;
  bytes: Uint8Array;
}

/** Signs the manifest of one build's files; refuses a file whose ELF header names another CPU. */
export function signNodeTools(
  files: readonly NodeToolInput[],
  o: { build: string; signingKey: KeyInput; issuedAt?: Date },
): NodeToolsManifest {
  const entries = files.map((f) => {
    const found = elfArch(f.bytes);
    if (found !== f.arch)
      throw new TrustError(
        "BAD_BUNDLE",
        `${f.name} for ${f.arch} is ${found === "amd64" || found === "arm64" ? `built for ${found}` : found}: rebuild it (scripts/setup/stargz.sh)`,
      );
    return {
      name: f.name,
      arch: f.arch,
      key: nodeToolKey(o.build, f.arch, f.name),
      sha256: sha256Hex(Buffer.from(f.bytes)),
      bytes: f.bytes.length,
    };
  });
  const payload = nodeToolsPayloadSchema.parse({
    domain: NODE_TOOLS_DOMAIN,
    build: o.build,
    files: entries,
    issuedAt: (o.issuedAt ?? new Date()).toISOString(),
  });
  const key = loadSigningPrivateKey(o.signingKey);
  return { payload, keyId: keyIdOf(key), signature: toBase64Url(sign(null, canonicalBytes(payload), key)) };
}

/** Verifies a manifest (text) with trusted release keys; returns its payload. */
export function verifyNodeTools(text: string, trusted: TrustedKeys): NodeToolsPayload {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new TrustError("MALFORMED", "the stargz tools' manifest is not JSON");
  }
  const r = nodeToolsManifestSchema.safeParse(value);
  if (!r.success) throw new TrustError("MALFORMED", formatIssues(r.error.issues).slice(0, 5).join("; "));
  const { payload, keyId, signature } = r.data;
  const key = trusted.get(keyId);
  const sig = fromBase64Url(signature);
  if (!key || !sig || !verify(null, canonicalBytes(payload), key, sig))
    throw new TrustError(
      "BAD_BUNDLE",
      `the stargz tools' manifest (build ${payload.build}) is not signed by a trusted release key (signed by ${keyId}; trusted: ${trusted.ids.join(", ") || "none"})`,
    );
  return payload;
}
