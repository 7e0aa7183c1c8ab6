// What the first-boot installers in a cloud node's user data share (the agent's, cloud-init.ts,
// and the stargz tools', stargz-installer.ts): the agent's config and channel secret read from
// their files, `get(key)` (curl with SigV4 and the node's read credentials, given on stdin so they
// never show in the process list), Ed25519 public keys, and the release keys the node trusts: its
// config's `trustedKeys`, or, with trust roots, those of the channel's trust set, checked here with
// the roots (its payload's canonical JSON, RFC 8785; for its ASCII strings and integers, sorted
// keys and JSON.stringify give the same bytes), a valid root signature, not expired, revoked keys
// out. Plain JavaScript text for /usr/bin/node: the node has no berth code before the agent.
import { channelKeys } from "../../contract/channel/layout";

export const AGENT_CONFIG_PATH = "/etc/berth/agent.json";

/**
 * The prelude; `onUntrustedSet` runs (JavaScript) when the channel's trust set does not verify;
 * `constants` are declared after the channel's base URL.
 */
export function channelInstallerPrelude(onUntrustedSet: string, constants: string): string {
  return `"use strict";
const { execFileSync } = require("node:child_process");
const crypto = require("node:crypto");
const fs = require("node:fs");
const cfg = JSON.parse(fs.readFileSync(${JSON.stringify(AGENT_CONFIG_PATH)}, "utf8"));
const ch = cfg.channel;
const secret = fs.readFileSync(ch.secretAccessKeyFile, "utf8").trim();
const prefix = ch.prefix.replace(/^\\/+|\\/+$/g, "");
const base = ch.endpoint.replace(/\\/+$/, "") + "/" + ch.bucket + "/" + (prefix ? prefix + "/" : "");
${constants}
// The payload hash header: S3 refuses a SigV4 request without it, and curl before 8 does not add it.
function get(k) {
  const curlConfig = 'user = "' + ch.accessKeyId + ":" + secret + '"\\n';
  return execFileSync(
    "curl",
    ["-fsS", "--retry", "10", "--retry-all-errors", "--retry-delay", "3", "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", "--aws-sigv4", "aws:amz:" + ch.region + ":s3", "-K", "-", base + k],
    { input: curlConfig, maxBuffer: 256 * 1024 * 1024 },
  );
}
const spki = Buffer.from("302a300506032b6570032100", "hex");
function publicKey(text) {
  const t = text.trim();
  if (t.startsWith("-----BEGIN")) return crypto.createPublicKey(t);
  const raw = Buffer.from(t.replace(/-/g, "+").replace(/_/g, "/"), "base64");
  return crypto.createPublicKey({ key: Buffer.concat([spki, raw]), format: "der", type: "spki" });
}
const b64 = (t) => Buffer.from(t.trim().replace(/-/g, "+").replace(/_/g, "/"), "base64");
// With trust roots, the release keys are those of the channel's trust set, checked here with the
// roots: its payload's canonical JSON (RFC 8785; for its ASCII strings and integers, sorted keys
// and JSON.stringify give the same bytes), a valid root signature, not expired, revoked keys out.
let releaseKeys = cfg.trustedKeys;
if ((cfg.trustRoots || []).length > 0) {
  const canon = (v) =>
    Array.isArray(v) ? "[" + v.map(canon).join(",") + "]"
    : v !== null && typeof v === "object" ? "{" + Object.keys(v).sort().map((k) => JSON.stringify(k) + ":" + canon(v[k])).join(",") + "}"
    : JSON.stringify(v);
  const ts = JSON.parse(get(${JSON.stringify(channelKeys.trustSet)}).toString("utf8"));
  const bytes = Buffer.from(canon(ts.payload), "utf8");
  const signed = ts.signatures.some((s) => cfg.trustRoots.some((r) => {
    try { return crypto.verify(null, bytes, publicKey(r), b64(s.signature)); } catch { return false; }
  }));
  if (ts.payload.domain !== "berth/trust-set/v1" || !signed || !(Date.parse(ts.payload.expiresAt) > Date.now())) {
    ${onUntrustedSet}
  }
  const keyId = (k) => "ed25519:" + crypto.createHash("sha256").update(b64(k)).digest("hex").slice(0, 32);
  releaseKeys = ts.payload.releaseKeys.filter((k) => !ts.payload.revoked.includes(keyId(k)));
}`;
}
