// The first-boot installer of a cloud workspace node's lazy-pulling tools (issue 22): fetches the
// channel's signed manifest of the stargz tools (contract/trust/node-tools.ts) with the node's
// read credentials, checks its signature with the release keys the node trusts (its config's, or
// the root-signed trust set's: channel-installer.ts), then fetches the files of the node's CPU and
// installs them only when each is an ELF executable for that CPU whose size and SHA-256 are the
// signed ones. Then it writes the lazy-pull settings (contract/node/lazy-pull.ts: the snapshotter's
// config and unit, containerd's config with the proxy plugin, dockerd's daemon.json on containerd's
// image store) and restarts containerd and dockerd on them; dockerd is asked which storage driver
// it runs.
//
// Anything else (no manifest, a signature by another key, a changed file, a file for another CPU,
// a service that does not start) leaves the node as a deployment node is: overlay2, the agent's
// pushes in zstd. The reason goes to the log (cloud-init's output) and to
// /var/lib/berth/lazy-pull.json, which the agent reports in its signed status; the settings it had
// replaced are put back. The installer always exits 0: the node works either way.
//
// Upgrades: it runs once, at a node's first boot. A new build in the channel reaches nodes created
// (or rebuilt) after it; a running node keeps the build it verified (stopping the snapshotter would
// unmount the layers its workspaces run on), and the publisher keeps the previous build's files
// beside the new one, so a node that read the old manifest still finds them.

import { LAZY_SNAPSHOTTER, NODE_LAZY_PULL, nodeLazyPullFiles } from "../../contract/node/lazy-pull";
import {
  NODE_ARCHES,
  NODE_TOOL_MAX_BYTES,
  NODE_TOOLS,
  NODE_TOOLS_DOMAIN,
  NODE_TOOLS_MANIFEST_KEY,
} from "../../contract/trust/node-tools";
import { channelInstallerPrelude } from "./channel-installer";

export const STARGZ_INSTALLER_PATH = "/usr/local/lib/berth/install-stargz.js";

/** Where each program goes (on the agent's PATH). */
const DESTINATIONS: Record<(typeof NODE_TOOLS)[number], string> = {
  "berth-stargz-snapshotter": NODE_LAZY_PULL.snapshotterBin,
  "berth-estargz": NODE_LAZY_PULL.estargzBin,
};

export function renderStargzInstaller(): string {
  const constants = {
    MANIFEST_KEY: NODE_TOOLS_MANIFEST_KEY,
    DOMAIN: NODE_TOOLS_DOMAIN,
    TOOLS: NODE_TOOLS.map((name) => ({ name, dest: DESTINATIONS[name] })),
    ARCHES: NODE_ARCHES,
    MAX_BYTES: NODE_TOOL_MAX_BYTES,
    FILES: nodeLazyPullFiles(),
    DIRS: [NODE_LAZY_PULL.snapshotterRoot, NODE_LAZY_PULL.snapshotterDockerConfig],
    UNIT: NODE_LAZY_PULL.unitName,
    DRIVER: LAZY_SNAPSHOTTER,
    OUTCOME: NODE_LAZY_PULL.outcome,
  };
  return `#!/usr/bin/node
// berth: install the lazy-pulling tools (stargz) from the release channel, only if they verify.
// Anything refused leaves the node on overlay2 (pulls in full), with the reason.
const C = ${JSON.stringify(constants)};
const arch = { x64: "amd64", arm64: "arm64" }[process.arch] || process.arch;
function record(o) {
  const f = C.OUTCOME;
  require("node:fs").mkdirSync(require("node:path").dirname(f), { recursive: true, mode: 0o700 });
  require("node:fs").writeFileSync(f + ".tmp", JSON.stringify({ ...o, arch }) + "\\n", { mode: 0o644 });
  require("node:fs").renameSync(f + ".tmp", f);
}
function refuse(reason) {
  console.error("berth: lazy pulling is off on this node (workspace images pull in full, overlay2): " + reason);
  record({ lazyPull: "off", reason });
  process.exit(0);
}
const said = (e) => String((e && e.stderr && e.stderr.toString().trim()) || (e && e.message) || e).split("\\n").slice(-2).join(" ");
process.on("uncaughtException", (e) => refuse("the install failed: " + said(e)));
${channelInstallerPrelude('refuse("the channel\'s trust set is not signed by a trust root or has expired");', "")}
if (!C.ARCHES.includes(arch)) refuse("no stargz tools are built for this CPU (" + process.arch + ")");
// A file of the channel, at most max bytes (curl stops past it). The payload hash header: S3
// refuses a SigV4 request without it, and curl before 8 does not add it.
function fetchKey(k, max) {
  try {
    return execFileSync(
      "curl",
      ["-fsS", "--retry", "10", "--retry-all-errors", "--retry-delay", "3", "--max-filesize", String(max), "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", "--aws-sigv4", "aws:amz:" + ch.region + ":s3", "-K", "-", base + k],
      { input: 'user = "' + ch.accessKeyId + ":" + secret + '"\\n', maxBuffer: max + 1, stdio: ["pipe", "pipe", "pipe"] },
    );
  } catch (e) {
    refuse("could not fetch " + k + " from the channel: " + said(e));
  }
}
const canonical = (v) =>
  Array.isArray(v) ? "[" + v.map(canonical).join(",") + "]"
  : v !== null && typeof v === "object" ? "{" + Object.keys(v).sort().map((k) => JSON.stringify(k) + ":" + canonical(v[k])).join(",") + "}"
  : JSON.stringify(v);
let m;
try { m = JSON.parse(fetchKey(C.MANIFEST_KEY, 1024 * 1024).toString("utf8")); } catch { refuse(C.MANIFEST_KEY + " is not JSON"); }
const p = m && m.payload;
if (!p || p.domain !== C.DOMAIN || !Array.isArray(p.files) || typeof m.signature !== "string")
  refuse(C.MANIFEST_KEY + " is not a manifest of the stargz tools (" + C.DOMAIN + ")");
const signed = Buffer.from(canonical(p), "utf8");
if (!releaseKeys.some((k) => { try { return crypto.verify(null, signed, publicKey(k), b64(m.signature)); } catch { return false; } }))
  refuse(C.MANIFEST_KEY + " (build " + p.build + ") is not signed by a release key this node trusts (signed by " + m.keyId + ")");
const machine = { amd64: 62, arm64: 183 };
const hex = (b) => crypto.createHash("sha256").update(b).digest("hex");
const verified = C.TOOLS.map((t) => {
  const f = p.files.find((x) => x.name === t.name && x.arch === arch);
  if (!f) refuse("the manifest (build " + p.build + ") has no " + t.name + " for " + arch);
  if (!/^agent\\/stargz\\/[0-9a-f]{16}\\/linux-(amd64|arm64)\\/[a-z-]+$/.test(f.key) || !Number.isInteger(f.bytes) || f.bytes < 64 || f.bytes > C.MAX_BYTES || !/^[0-9a-f]{64}$/.test(f.sha256))
    refuse("the manifest's entry of " + t.name + " for " + arch + " is malformed");
  const bytes = fetchKey(f.key, f.bytes);
  const elf = bytes.length >= 20 && bytes.readUInt32BE(0) === 0x7f454c46 && bytes[4] === 2 && bytes[5] === 1;
  const found = elf ? bytes.readUInt16LE(18) : -1;
  if (found !== machine[arch]) {
    const other = Object.keys(machine).find((a) => machine[a] === found);
    refuse(f.key + " is " + (other ? "an executable for " + other : elf ? "an executable for ELF machine " + found : "not an ELF executable") + ", not for this node's " + arch);
  }
  if (bytes.length !== f.bytes || hex(bytes) !== f.sha256)
    refuse(f.key + " does not match the signed manifest (sha256 " + hex(bytes).slice(0, 12) + "…, " + bytes.length + " bytes; signed " + f.sha256.slice(0, 12) + "…, " + f.bytes + " bytes)");
  return { ...t, bytes };
});
const path = require("node:path");
function put(file, data, mode) {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  fs.writeFileSync(file + ".berth-tmp", data, { mode });
  fs.chmodSync(file + ".berth-tmp", mode);
  fs.renameSync(file + ".berth-tmp", file);
}
for (const t of verified) put(t.dest, t.bytes, 0o755);
for (const d of C.DIRS) fs.mkdirSync(d, { recursive: true, mode: 0o700 });
// The settings the lazy ones replace, kept to put back if the engine does not start on them.
const kept = C.FILES.map((f) => ({ path: f.path, before: fs.existsSync(f.path) ? fs.readFileSync(f.path) : undefined }));
for (const f of C.FILES) put(f.path, f.content, f.mode);
console.log("berth: stargz tools of build " + p.build + " installed for " + arch + " (" + verified.map((t) => t.dest + " sha256 " + hex(t.bytes)).join(", ") + ")");
if (!fs.existsSync("/run/systemd/system")) {
  // No systemd (a container): whoever runs this starts the snapshotter, containerd and dockerd.
  record({ lazyPull: "installed", build: p.build });
  console.log("berth: systemd is not running: start " + C.UNIT + ", containerd and dockerd yourself");
  process.exit(0);
}
const systemctl = (...a) => execFileSync("systemctl", a, { stdio: ["ignore", "pipe", "pipe"], timeout: 180000 });
try {
  systemctl("daemon-reload");
  systemctl("enable", "--now", C.UNIT);
  systemctl("restart", "containerd.service");
  systemctl("restart", "docker.service");
  const driver = execFileSync("docker", ["info", "--format", "{{.Driver}}"], { timeout: 60000 }).toString().trim();
  if (driver !== C.DRIVER) throw new Error("dockerd runs the storage driver " + driver + ", not " + C.DRIVER);
} catch (e) {
  const why = said(e);
  for (const k of kept) {
    if (k.before !== undefined) put(k.path, k.before, 0o644);
    else fs.rmSync(k.path, { force: true });
  }
  for (const a of [["daemon-reload"], ["disable", "--now", C.UNIT], ["restart", "containerd.service"], ["restart", "docker.service"]]) {
    try { systemctl(...a); } catch {}
  }
  refuse("the engine did not start with the stargz snapshotter (" + why + "): its settings were put back");
}
record({ lazyPull: "on", build: p.build });
console.log("berth: lazy pulling is on (dockerd's storage driver: " + C.DRIVER + ")");
`;
}
