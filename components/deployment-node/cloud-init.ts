// The cloud-init user data of a cloud node: a PURE renderer (no Pulumi import; the caller resolves
// Outputs with pulumi.all and passes plain values). Structure is built as data and serialized with
// the `yaml` library; only file contents are text.
//
// Stability matters: on Hetzner a changed user data replaces the server. Everything here is a
// function of the node's identity, its channel and the trusted keys: no timestamps, no random
// values, keys and lists in a fixed order, gzip without a modification time. What changes over
// time (releases, routes, certificates) reaches the node through the channel.
//
// The agent bundle reaches the node in one of two ways:
// - "inline": inside the user data (write_files, gz+b64). The bundle is ~1.6 MB (~290 KB gzipped),
//   far above Hetzner's 32 KiB user-data limit; fine for a throwaway container test or a provider
//   with a large limit.
// - "channel": the user data carries a small installer that fetches `<key>` and `<key>.sig` from
//   the node's own release channel (curl with SigV4, the channel's read credentials) and installs
//   the bundle only when the signature verifies against one of the trusted release-signing keys.
//   The user data then stays the same when the agent changes. See agent-bundle.ts for the
//   program's side (what to publish).
import { gzipSync } from "node:zlib";
import { stringify } from "yaml";
import type { S3ChannelAccess } from "../../contract/channel/access";
import { type AgentConfig, agentConfigSchema } from "../../contract/node/agent-config";
import { AGENT_ENVIRONMENT, agentRunArgs } from "../../contract/node/agent-process";
import { DOCKER_DAEMON_JSON_PATH, renderDockerDaemonJson } from "../../contract/node/docker-daemon";
import { PROXY_UNIT_NAME, PROXY_UNIT_PATH, renderProxyUnit } from "../../contract/node/proxy-unit";
import { metadataRuleScript } from "../../lib/metadata-block";
import { AGENT_CONFIG_PATH, channelInstallerPrelude } from "./channel-installer";
import { renderStargzInstaller, STARGZ_INSTALLER_PATH } from "./stargz-installer";

export { AGENT_CONFIG_PATH } from "./channel-installer";
export const CHANNEL_SECRET_PATH = "/etc/berth/channel-secret";
/** The secret the node MACs its identity document with (contract/channel/node-identity.ts). */
export const ENROLLMENT_SECRET_PATH = "/etc/berth/enrollment-secret";
export const AGENT_BUNDLE_PATH = "/usr/local/lib/berth/berth-agent.js";
export const AGENT_INSTALLER_PATH = "/usr/local/lib/berth/install-agent.js";
export const AGENT_UNIT_PATH = "/etc/systemd/system/berth-agent.service";
export const AGENT_UNIT_NAME = "berth-agent.service";
/** The agent's access endpoint, in a folder of the `haproxy` group's (HAProxy's workers connect). */
export const ACCESS_SOCKET_PATH = "/run/berth-access/agent.sock";
/** The channel key of the agent bundle in "channel" mode (its signature: the same key + ".sig"). */
export const DEFAULT_AGENT_BUNDLE_KEY = "agent/berth-agent.js";
/** Hetzner Cloud refuses user data above 32 KiB. */
export const HETZNER_USER_DATA_LIMIT = 32 * 1024;

/**
 * Everything a node needs from Debian 13's own archive (no third-party apt source): Docker Engine
 * with Compose v2 and buildx, HAProxy (the node proxy the agent drives), Node.js (runs the agent),
 * restic (volume backups), curl (fetches the agent bundle in "channel" mode), pigz (dockerd
 * decompresses image layers with `unpigz` when it finds it: a fresh node's pull of a 466 MB
 * toolchain image took 14.0–15.3 s with it, 22.8–25.9 s without), skopeo (pushes workspace cache
 * images with zstd layers, which a fresh node pulls faster: node-agent/workspace/commands.ts),
 * python3 (cloud-init runs on it, so the image has it; named so the agent's splice relay,
 * node-agent/access/splice-relay.ts, never depends on that).
 */
export const NODE_PACKAGES = [
  "ca-certificates",
  "curl",
  "docker-buildx",
  "docker-compose",
  "docker.io",
  "haproxy",
  "nodejs",
  "openssl",
  "pigz",
  "python3",
  "restic",
  "skopeo",
] as const;

export type AgentSource = { kind: "inline"; bundle: string } | { kind: "channel"; key?: string };

export interface NodeCloudInitInput {
  nodeId: string;
  channel: S3ChannelAccess;
  /** Ed25519 public keys (base64url raw or PEM) whose signatures the node accepts. */
  trustedKeys: readonly string[];
  /**
   * Ed25519 public keys that sign the channel's trust set (berth:trust.rootKeys). With them the
   * release keys come from the trust set, and `trustedKeys` may be empty.
   */
  trustRoots?: readonly string[];
  /**
   * The node's enrollment secret (enrollmentSecretFor(enrollmentKey, nodeId): stable, so the user
   * data stays the same). The node proves its identity with it. Containers cannot read user
   * data: the metadata service (169.254.169.254) is blocked from containers on the node.
   */
  enrollmentSecret?: string;
  agent: AgentSource;
  /** Where HAProxy listens for the apps' traffic. Default 0.0.0.0:80. */
  proxyBind?: string;
  /** Where HAProxy terminates TLS with the certificates releases carry. Default 0.0.0.0:443. */
  proxyTlsBind?: string;
  pollIntervalSeconds?: number;
  healthTimeoutSeconds?: number;
  /** Refuse to render above this many bytes (e.g. HETZNER_USER_DATA_LIMIT). */
  maxBytes?: number;
  /** A workspace node also gets git and the devcontainer CLI (default: deployment). */
  role?: "deployment" | "workspace";
}

/** Workspace nodes: git (clones) and npm (installs the devcontainer CLI). */
export const WORKSPACE_PACKAGES = ["git", "npm"] as const;
/** Where a workspace node's devcontainer CLI is installed (`npm install --global --prefix`). */
export const DEVCONTAINER_CLI_PREFIX = "/opt/berth/devcontainers";
export const DEVCONTAINER_CLI_PATH = `${DEVCONTAINER_CLI_PREFIX}/lib/node_modules/@devcontainers/cli/devcontainer.js`;

/** The devcontainer CLI version this program pins (package.json), installed on workspace nodes. */
export function devcontainerCliVersion(): string {
  return (require("@devcontainers/cli/package.json") as { version: string }).version;
}

export class CloudInitError extends Error {}

/** The agent's /etc/berth/agent.json, validated with the agent's own schema. */
export function renderAgentConfig(input: NodeCloudInitInput): AgentConfig {
  const raw = {
    nodeId: input.nodeId,
    stateRoot: "/var/lib/berth",
    volumeRoot: "/mnt",
    channel: {
      kind: "s3" as const,
      endpoint: input.channel.endpoint,
      bucket: input.channel.bucket,
      region: input.channel.region,
      prefix: input.channel.prefix,
      accessKeyId: input.channel.accessKeyId,
      secretAccessKeyFile: CHANNEL_SECRET_PATH,
    },
    ...(input.enrollmentSecret ? { enrollmentSecretFile: ENROLLMENT_SECRET_PATH } : {}),
    // Sorted and de-duplicated: the order of keys in the stack config must not change user data.
    trustedKeys: [...new Set(input.trustedKeys.map((k) => k.trim()))].sort(),
    // Only when given: the user data of nodes without roots stays byte for byte what it was.
    ...(input.trustRoots && input.trustRoots.length > 0
      ? { trustRoots: [...new Set(input.trustRoots.map((k) => k.trim()))].sort() }
      : {}),
    pollIntervalSeconds: input.pollIntervalSeconds ?? 10,
    healthTimeoutSeconds: input.healthTimeoutSeconds ?? 120,
    proxy: {
      bind: input.proxyBind ?? "0.0.0.0:80",
      tls: { bind: input.proxyTlsBind ?? "0.0.0.0:443" },
      // HAProxy in its own unit, its workers as Debian's `haproxy` user (contract/node/proxy-unit.ts).
      unit: PROXY_UNIT_NAME,
      user: "haproxy",
      accessSocket: ACCESS_SOCKET_PATH,
    },
    ...(input.role === "workspace" ? { workspaces: { devcontainerCli: DEVCONTAINER_CLI_PATH } } : {}),
  };
  const r = agentConfigSchema.safeParse(raw);
  if (!r.success) {
    throw new CloudInitError(
      `the node's agent config is invalid: ${r.error.issues
        .map((i) => `${i.path.map(String).join(".") || "(top)"}: ${i.message}`)
        .join("; ")}`,
    );
  }
  return r.data;
}

/** The systemd unit that runs the agent. */
export function renderAgentUnit(): string {
  return [
    "[Unit]",
    "Description=berth node agent (pulls, verifies and applies signed releases)",
    "Wants=network-online.target docker.service",
    "After=docker.service network-online.target",
    "",
    "[Service]",
    "Type=simple",
    // The flags and environment every node runs its agent with (contract/node/agent-process.ts).
    `ExecStart=/usr/bin/node ${agentRunArgs(AGENT_BUNDLE_PATH, AGENT_CONFIG_PATH).join(" ")}`,
    "Restart=always",
    "RestartSec=5",
    // HAProxy has a unit of its own (berth-haproxy.service); what the agent starts detached (the
    // upgrade trial's watchdog, which outlives the old agent) would die with it under systemd's
    // default (control-group).
    "KillMode=process",
    // The agent pings every 60 s while its event loop turns (node-agent/systemd-watchdog.ts, through
    // systemd-notify, a child: hence NotifyAccess=all); 120 s without one restarts it.
    "WatchdogSec=120",
    "NotifyAccess=all",
    "Environment=NODE_ENV=production",
    ...Object.entries(AGENT_ENVIRONMENT).map(([k, v]) => `Environment=${k}=${v}`),
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

/**
 * The installer of "channel" mode: fetches the bundle and its signature from the channel with the
 * node's credentials (curl reads them from stdin, so they never show in the process list), checks
 * the Ed25519 signature against the trusted keys in the agent's config, and installs atomically.
 */
export function renderAgentInstaller(key: string): string {
  return `#!/usr/bin/node
// berth: install the agent bundle from the release channel, only if its signature verifies.
${channelInstallerPrelude(
  'console.error("berth: the channel\'s trust set is not signed by a trust root or has expired: agent not installed");\n    process.exit(1);',
  `const key = ${JSON.stringify(key)};`,
)}
const bundle = get(key);
const sig = b64(get(key + ".sig").toString("utf8"));
const ok = releaseKeys.some((k) => {
  try { return crypto.verify(null, bundle, publicKey(k), sig); } catch { return false; }
});
if (!ok) {
  console.error("berth: the agent bundle " + key + " is not signed by a trusted key: not installed");
  process.exit(1);
}
const dest = ${JSON.stringify(AGENT_BUNDLE_PATH)};
fs.writeFileSync(dest + ".tmp", bundle, { mode: 0o755 });
fs.renameSync(dest + ".tmp", dest);
console.log("berth: agent bundle installed (sha256 " + crypto.createHash("sha256").update(bundle).digest("hex") + ")");
`;
}

/** gzip without a modification time, so the same bundle always encodes to the same text. */
function gzB64(text: string): string {
  return gzipSync(Buffer.from(text, "utf8"), { level: 9 }).toString("base64");
}

interface WriteFile {
  path: string;
  owner: string;
  permissions: string;
  content: string;
  encoding?: string;
}

/** The `#cloud-config` user data of a node. */
export function renderCloudInit(input: NodeCloudInitInput): string {
  const config = renderAgentConfig(input);
  if (input.channel.secretAccessKey.trim() === "") {
    throw new CloudInitError("channel.secretAccessKey is empty: the node could not read its channel");
  }
  const files: WriteFile[] = [
    {
      path: AGENT_CONFIG_PATH,
      owner: "root:root",
      permissions: "0600",
      // One line: the user data has a provider limit (32 KiB at Hetzner); `jq . /etc/berth/agent.json` reads it.
      content: `${JSON.stringify(config)}\n`,
    },
    {
      path: CHANNEL_SECRET_PATH,
      owner: "root:root",
      permissions: "0600",
      content: `${input.channel.secretAccessKey}\n`,
    },
    ...(input.enrollmentSecret
      ? [
          {
            path: ENROLLMENT_SECRET_PATH,
            owner: "root:root",
            permissions: "0600",
            content: `${input.enrollmentSecret}\n`,
          },
        ]
      : []),
    // Written before the packages install, so dockerd starts with it (more parallel layer
    // downloads: contract/node/docker-daemon.ts).
    {
      path: DOCKER_DAEMON_JSON_PATH,
      owner: "root:root",
      permissions: "0644",
      content: renderDockerDaemonJson(),
    },
    { path: AGENT_UNIT_PATH, owner: "root:root", permissions: "0644", content: renderAgentUnit() },
    {
      path: PROXY_UNIT_PATH,
      owner: "root:root",
      permissions: "0644",
      content: renderProxyUnit({ dir: `${config.stateRoot}/proxy` }),
    },
  ];
  const installSteps: string[][] = [];
  if (input.agent.kind === "inline") {
    if (input.agent.bundle.length === 0) throw new CloudInitError("agent.bundle is empty");
    files.push({
      path: AGENT_BUNDLE_PATH,
      owner: "root:root",
      permissions: "0755",
      encoding: "gz+b64",
      content: gzB64(input.agent.bundle),
    });
  } else {
    const key = input.agent.key ?? DEFAULT_AGENT_BUNDLE_KEY;
    files.push({
      path: AGENT_INSTALLER_PATH,
      owner: "root:root",
      permissions: "0755",
      content: renderAgentInstaller(key),
    });
    installSteps.push(["/usr/bin/node", AGENT_INSTALLER_PATH]);
  }
  // A workspace node's lazy pulling: the stargz tools from the channel, verified, then containerd
  // and dockerd restarted on them (stargz-installer.ts); refused, the node keeps overlay2.
  const lazyPullSteps: string[][] = [];
  if (input.role === "workspace") {
    files.push({
      path: STARGZ_INSTALLER_PATH,
      owner: "root:root",
      permissions: "0755",
      // ~10 KB as text (its settings files are inside): gzipped, the user data stays far below
      // Hetzner's 32 KiB.
      encoding: "gz+b64",
      content: gzB64(renderStargzInstaller()),
    });
    lazyPullSteps.push(["/usr/bin/node", STARGZ_INSTALLER_PATH]);
  }
  const doc = {
    hostname: input.nodeId,
    package_update: true,
    package_upgrade: false,
    packages: [...NODE_PACKAGES, ...(input.role === "workspace" ? WORKSPACE_PACKAGES : [])],
    write_files: files,
    runcmd: [
      ["mkdir", "-p", "-m", "0700", "/var/lib/berth"],
      ["systemctl", "daemon-reload"],
      ["systemctl", "enable", "--now", "docker.service"],
      // Before the metadata rule and the agent: it restarts containerd and dockerd.
      ...lazyPullSteps,
      // No container reaches the cloud metadata service (the agent checks it again at start).
      ["sh", "-c", metadataRuleScript()],
      // The node's HAProxy is berth-haproxy.service (the agent writes its configuration and
      // starts it; enabled, so after a reboot it serves the last configuration at once); the
      // packaged service would hold the same ports.
      ["systemctl", "disable", "--now", "haproxy.service"],
      ["systemctl", "enable", PROXY_UNIT_NAME],
      ...installSteps,
      ...(input.role === "workspace"
        ? [
            [
              "npm",
              "install",
              "--global",
              "--no-fund",
              "--no-audit",
              "--prefix",
              DEVCONTAINER_CLI_PREFIX,
              `@devcontainers/cli@${devcontainerCliVersion()}`,
            ],
          ]
        : []),
      ["systemctl", "enable", "--now", AGENT_UNIT_NAME],
    ],
  };
  const text = `#cloud-config\n${stringify(doc, { lineWidth: 0, minContentWidth: 0 })}`;
  const bytes = Buffer.byteLength(text, "utf8");
  if (input.maxBytes !== undefined && bytes > input.maxBytes) {
    throw new CloudInitError(
      `the node's user data is ${bytes} bytes, above the provider's limit of ${input.maxBytes}` +
        (input.agent.kind === "inline"
          ? ': install the agent from the channel (agent: { kind: "channel" })'
          : ""),
    );
  }
  return text;
}
