import { verify } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { parseAgentConfig } from "../../contract/node/agent-config";
import { DOCKER_DAEMON_JSON_PATH } from "../../contract/node/docker-daemon";
import { nodeLazyPullFiles } from "../../contract/node/lazy-pull";
import { PROXY_UNIT_PATH, renderProxyUnit } from "../../contract/node/proxy-unit";
import { generateSigningKeyPair, loadSigningPublicKey } from "../../contract/payload";
import { run } from "../../lib/process";
import { agentBundleObjects } from "./agent-bundle";
import {
  ACCESS_SOCKET_PATH,
  AGENT_BUNDLE_PATH,
  AGENT_CONFIG_PATH,
  AGENT_INSTALLER_PATH,
  AGENT_UNIT_NAME,
  AGENT_UNIT_PATH,
  CHANNEL_SECRET_PATH,
  DEVCONTAINER_CLI_PATH,
  HETZNER_USER_DATA_LIMIT,
  type NodeCloudInitInput,
  renderAgentUnit,
  renderCloudInit,
} from "./cloud-init";
import { renderStargzInstaller, STARGZ_INSTALLER_PATH } from "./stargz-installer";

const keys = generateSigningKeyPair();
const base: NodeCloudInitInput = {
  nodeId: "web-1",
  channel: {
    endpoint: "https://acc123.r2.cloudflarestorage.com",
    bucket: "berth-channel",
    region: "auto",
    prefix: "prod",
    accessKeyId: "AKIDNODE",
    secretAccessKey: "node-secret-value",
  },
  trustedKeys: [keys.publicKey],
  agent: { kind: "channel" },
};

interface Doc {
  hostname: string;
  packages: string[];
  write_files: { path: string; permissions: string; content: string; encoding?: string }[];
  runcmd: string[][];
}
const doc = (text: string) => parse(text) as Doc;
const file = (d: Doc, path: string) => {
  const f = d.write_files.find((w) => w.path === path);
  if (!f) throw new Error(`no ${path}`);
  return f;
};

describe("renderCloudInit", () => {
  it("writes the agent's config, the channel secret (0600) and the unit, and starts the agent", () => {
    const text = renderCloudInit(base);
    expect(text.startsWith("#cloud-config\n")).toBe(true);
    const d = doc(text);
    expect(d.hostname).toBe("web-1");
    const cfg = parseAgentConfig(file(d, AGENT_CONFIG_PATH).content, "agent.json");
    expect(cfg).toMatchObject({
      nodeId: "web-1",
      channel: {
        kind: "s3",
        endpoint: "https://acc123.r2.cloudflarestorage.com",
        bucket: "berth-channel",
        region: "auto",
        prefix: "prod",
        accessKeyId: "AKIDNODE",
        secretAccessKeyFile: CHANNEL_SECRET_PATH,
      },
      trustedKeys: [keys.publicKey],
      proxy: {
        bind: "0.0.0.0:80",
        tls: { bind: "0.0.0.0:443", redirectHttp: false },
        unit: "berth-haproxy.service",
        user: "haproxy",
        accessSocket: ACCESS_SOCKET_PATH,
      },
      disks: { fstabPath: "/etc/fstab" },
    });
    expect(cfg.workspaces.devcontainerCli).toBeUndefined();
    // The secret is only in its own file, never in the config.
    expect(file(d, AGENT_CONFIG_PATH).content).not.toContain("node-secret-value");
    expect(file(d, CHANNEL_SECRET_PATH)).toMatchObject({
      permissions: "0600",
      content: "node-secret-value\n",
    });
    expect(file(d, AGENT_UNIT_PATH).content).toBe(renderAgentUnit());
    // HAProxy's own unit, on the agent's proxy folder; enabled (the agent starts it first).
    expect(file(d, PROXY_UNIT_PATH)).toMatchObject({
      permissions: "0644",
      content: renderProxyUnit({ dir: "/var/lib/berth/proxy" }),
    });
    expect(d.runcmd).toContainEqual(["systemctl", "enable", "berth-haproxy.service"]);
    expect(d.runcmd).toContainEqual(["systemctl", "disable", "--now", "haproxy.service"]);
    expect(d.packages).toEqual(
      expect.arrayContaining([
        "docker.io",
        "docker-compose",
        "docker-buildx",
        "haproxy",
        "nodejs",
        "pigz",
        "python3",
        "restic",
        "skopeo",
      ]),
    );
    expect(text).not.toMatch(/apt_sources|sources:|download\.docker\.com|deb\.nodesource/);
    expect(d.runcmd).toContainEqual(["systemctl", "enable", "--now", "docker.service"]);
    expect(d.runcmd.at(-1)).toEqual(["systemctl", "enable", "--now", "berth-agent.service"]);
    // Channel mode: the installer runs before the agent starts.
    const iInstall = d.runcmd.findIndex((c) => c.includes(AGENT_INSTALLER_PATH));
    expect(iInstall).toBeGreaterThan(-1);
    expect(iInstall).toBeLessThan(d.runcmd.length - 1);
  });

  it("gives the node's dockerd more parallel layer downloads (daemon.json, written before the packages install)", () => {
    for (const role of ["deployment", "workspace"] as const) {
      const d = doc(renderCloudInit({ ...base, role }));
      const f = file(d, DOCKER_DAEMON_JSON_PATH);
      expect(f.permissions).toBe("0644");
      expect(JSON.parse(f.content)).toEqual({ "max-concurrent-downloads": 8 });
    }
  });

  it("gives a workspace node git and the pinned devcontainer CLI, and tells the agent where it is", () => {
    const d = doc(renderCloudInit({ ...base, role: "workspace" }));
    expect(d.packages).toEqual(expect.arrayContaining(["git", "npm", "docker-buildx", "haproxy"]));
    const pinned = (require("@devcontainers/cli/package.json") as { version: string }).version;
    const install = d.runcmd.findIndex((c) => c[0] === "npm");
    expect(d.runcmd[install]).toEqual([
      "npm",
      "install",
      "--global",
      "--no-fund",
      "--no-audit",
      "--prefix",
      "/opt/berth/devcontainers",
      `@devcontainers/cli@${pinned}`,
    ]);
    // Installed before the agent starts.
    expect(install).toBeLessThan(d.runcmd.findIndex((c) => c.at(-1) === AGENT_UNIT_NAME));
    const cfg = parseAgentConfig(file(d, AGENT_CONFIG_PATH).content, "agent.json");
    expect(cfg.workspaces.devcontainerCli).toBe(DEVCONTAINER_CLI_PATH);
    expect(doc(renderCloudInit(base)).packages).not.toContain("git");
  });

  it("gives a workspace node the stargz tools' installer, run before the metadata rule and the agent; a deployment node none", async () => {
    const d = doc(renderCloudInit({ ...base, role: "workspace" }));
    const installer = file(d, STARGZ_INSTALLER_PATH);
    expect(installer.permissions).toBe("0755");
    expect(installer.encoding).toBe("gz+b64");
    const text = gunzipSync(Buffer.from(installer.content, "base64")).toString("utf8");
    expect(text).toBe(renderStargzInstaller());
    const dir = mkdtempSync(join(tmpdir(), "berth-ci-"));
    writeFileSync(join(dir, "install-stargz.js"), text);
    await run("node", ["--check", join(dir, "install-stargz.js")]);
    // It holds every lazy-pull file as contract/node/lazy-pull.ts renders it.
    for (const f of nodeLazyPullFiles()) expect(text).toContain(JSON.stringify(f.content));
    const at = (pred: (c: string[]) => boolean) => d.runcmd.findIndex(pred);
    const step = at((c) => c.at(-1) === STARGZ_INSTALLER_PATH);
    expect(step).toBeGreaterThan(at((c) => c.join(" ") === "systemctl enable --now docker.service"));
    expect(step).toBeLessThan(at((c) => c[0] === "sh" && c[2]?.includes("DOCKER-USER") === true));
    expect(step).toBeLessThan(at((c) => c.at(-1) === AGENT_UNIT_NAME));
    // The plain daemon.json stays what dockerd starts on; the installer replaces it only once
    // the tools verified.
    expect(JSON.parse(file(d, DOCKER_DAEMON_JSON_PATH).content)).not.toHaveProperty("storage-driver");
    const plain = doc(renderCloudInit(base));
    expect(plain.write_files.map((f) => f.path)).not.toContain(STARGZ_INSTALLER_PATH);
    expect(plain.runcmd.flat()).not.toContain(STARGZ_INSTALLER_PATH);
    expect(Buffer.byteLength(renderCloudInit({ ...base, role: "workspace" }))).toBeLessThan(
      HETZNER_USER_DATA_LIMIT / 2,
    );
  });

  it("renders the unit the brief names", () => {
    const unit = renderAgentUnit();
    expect(unit).toContain("Restart=always");
    expect(unit).toContain("After=docker.service network-online.target");
    expect(unit).toContain(
      "ExecStart=/usr/bin/node --max-semi-space-size=1 --no-opt /usr/local/lib/berth/berth-agent.js run --config /etc/berth/agent.json",
    );
    // glibc's malloc gives freed memory back (contract/node/agent-process.ts).
    expect(unit).toContain("Environment=MALLOC_ARENA_MAX=2");
    expect(unit).toContain("KillMode=process");
    // A watchdog the agent feeds through systemd-notify (node-agent/systemd-watchdog.ts).
    expect(unit).toContain("WatchdogSec=120");
    expect(unit).toContain("NotifyAccess=all");
  });

  it("is stable: same inputs, same bytes; key order does not matter; identity and channel do", () => {
    const a = renderCloudInit(base);
    expect(renderCloudInit({ ...base })).toBe(a);
    const k2 = generateSigningKeyPair().publicKey;
    expect(renderCloudInit({ ...base, trustedKeys: [keys.publicKey, k2] })).toBe(
      renderCloudInit({ ...base, trustedKeys: [k2, keys.publicKey, k2] }),
    );
    expect(renderCloudInit({ ...base, nodeId: "web-2" })).not.toBe(a);
    expect(renderCloudInit({ ...base, channel: { ...base.channel, bucket: "other" } })).not.toBe(a);
    expect(a).not.toMatch(/20\d\d-\d\d-\d\dT/);
  });

  it("inlines the agent bundle as gz+b64 (deterministically) when asked", () => {
    const bundle = `#!/usr/bin/env node\nconsole.log("agent");\n${"x".repeat(5000)}\n`;
    const text = renderCloudInit({ ...base, agent: { kind: "inline", bundle } });
    expect(renderCloudInit({ ...base, agent: { kind: "inline", bundle } })).toBe(text);
    const f = file(doc(text), AGENT_BUNDLE_PATH);
    expect(f.encoding).toBe("gz+b64");
    expect(f.permissions).toBe("0755");
    expect(gunzipSync(Buffer.from(f.content, "base64")).toString("utf8")).toBe(bundle);
    expect(doc(text).runcmd.some((c) => c.includes(AGENT_INSTALLER_PATH))).toBe(false);
  });

  it("refuses user data above the provider's limit, saying what to do", () => {
    const bundle = Array.from({ length: 40_000 }, (_, i) => `const v${i} = ${i * 7919};`).join("\n");
    expect(() =>
      renderCloudInit({ ...base, agent: { kind: "inline", bundle }, maxBytes: HETZNER_USER_DATA_LIMIT }),
    ).toThrow(/above the provider's limit of 32768.*kind: "channel"/);
    expect(Buffer.byteLength(renderCloudInit(base))).toBeLessThan(HETZNER_USER_DATA_LIMIT / 4);
  });

  it("refuses an invalid node id or no trusted key with the field named", () => {
    expect(() => renderCloudInit({ ...base, nodeId: "Web_1" })).toThrow(/nodeId/);
    expect(() => renderCloudInit({ ...base, trustedKeys: [] })).toThrow(/trustedKeys/);
    expect(() => renderCloudInit({ ...base, channel: { ...base.channel, endpoint: "not a url" } })).toThrow(
      /channel\.endpoint/,
    );
  });

  it("ships an installer that is valid JavaScript, and the bundle's signature verifies with the trusted key", async () => {
    const d = doc(renderCloudInit(base));
    const dir = mkdtempSync(join(tmpdir(), "berth-ci-"));
    const installer = join(dir, "install-agent.js");
    writeFileSync(installer, file(d, AGENT_INSTALLER_PATH).content);
    await run("node", ["--check", installer]);
    const [b, s] = agentBundleObjects("console.log(1)\n", keys.privateKey);
    expect(b?.key).toBe("agent/berth-agent.js");
    expect(s?.key).toBe("agent/berth-agent.js.sig");
    const sig = Buffer.from(s?.body.trim() ?? "", "base64url");
    expect(verify(null, Buffer.from(b?.body ?? ""), loadSigningPublicKey(keys.publicKey), sig)).toBe(true);
  });
});

describe("cloud-init schema (the real cloud-init on this machine)", () => {
  const schema = async (text: string) => {
    const dir = mkdtempSync(join(tmpdir(), "berth-ci-"));
    const f = join(dir, "user-data");
    writeFileSync(f, text);
    return run("cloud-init", ["schema", "--config-file", f], { allowFailure: true, timeoutMs: 60_000 });
  };

  it("accepts the user data of both agent modes", async () => {
    const r1 = await schema(renderCloudInit(base));
    expect(r1.exitCode, r1.stderr + r1.stdout).toBe(0);
    const r2 = await schema(
      renderCloudInit({ ...base, agent: { kind: "inline", bundle: "console.log(1)\n" } }),
    );
    expect(r2.exitCode, r2.stderr + r2.stdout).toBe(0);
    const r3 = await schema(renderCloudInit({ ...base, role: "workspace" }));
    expect(r3.exitCode, r3.stderr + r3.stdout).toBe(0);
  }, 90_000);

  it("refuses a broken variant", async () => {
    const broken = renderCloudInit(base).replace("package_update: true", "package_update: sometimes");
    const r = await schema(broken);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr + r.stdout).toMatch(/package_update/);
  }, 60_000);
});
