// The first-boot installer of "channel" mode on a node whose user data holds trust roots: it runs
// for real (node, with a stand-in curl that serves a folder), takes the release keys from the
// channel's trust set only when a root signed it, and installs only a bundle signed by one of
// them. The installer's fixed paths (/etc/berth, /usr/local/lib/berth) point into a temporary
// folder for the test.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { generateSigningKeyPair, keyIdOf } from "../../contract/payload";
import { createTrustSetPayload, signTrustSet } from "../../contract/trust";
import { run } from "../../lib/process";
import { agentBundleObjects } from "./agent-bundle";
import {
  AGENT_BUNDLE_PATH,
  AGENT_CONFIG_PATH,
  AGENT_INSTALLER_PATH,
  CHANNEL_SECRET_PATH,
  renderCloudInit,
} from "./cloud-init";

const root = generateSigningKeyPair();
const a = generateSigningKeyPair();
const b = generateSigningKeyPair();

function node() {
  const dir = mkdtempSync(join(tmpdir(), "berth-installer-"));
  const served = join(dir, "served");
  const text = renderCloudInit({
    nodeId: "web-1",
    channel: {
      endpoint: "https://s3.test",
      bucket: "ch",
      region: "auto",
      prefix: "",
      accessKeyId: "AKID",
      secretAccessKey: "node-secret",
    },
    trustedKeys: [],
    trustRoots: [root.publicKey],
    agent: { kind: "channel" },
  });
  const files = (parse(text) as { write_files: { path: string; content: string }[] }).write_files;
  const local = (p: string) => join(dir, p);
  for (const f of files) {
    mkdirSync(dirname(local(f.path)), { recursive: true });
    let content = f.content;
    for (const p of [AGENT_CONFIG_PATH, AGENT_BUNDLE_PATH, CHANNEL_SECRET_PATH])
      content = content
        .replaceAll(JSON.stringify(p), JSON.stringify(local(p)))
        .replaceAll(`"${p}"`, `"${local(p)}"`);
    writeFileSync(local(f.path), content);
  }
  const cfg = JSON.parse(readFileSync(local(AGENT_CONFIG_PATH), "utf8"));
  cfg.channel.secretAccessKeyFile = local(CHANNEL_SECRET_PATH);
  writeFileSync(local(AGENT_CONFIG_PATH), JSON.stringify(cfg));
  // curl stand-in: serves https://s3.test/ch/<key> from the folder (the URL is its last argument).
  mkdirSync(join(dir, "bin"));
  writeFileSync(
    join(dir, "bin", "curl"),
    // It reads the credentials from stdin first, as curl -K - does (no EPIPE for the installer).
    `#!/bin/sh\ncat > /dev/null\nfor last; do :; done\ncat "${served}/\${last#https://s3.test/ch/}" 2>/dev/null || exit 22\n`,
  );
  chmodSync(join(dir, "bin", "curl"), 0o755);
  const put = (key: string, body: string) => {
    mkdirSync(dirname(join(served, key)), { recursive: true });
    writeFileSync(join(served, key), body);
  };
  const trustSet = (releaseKeys: string[], revoked: string[], signer = root.privateKey) =>
    put(
      "agent/trust-set.json",
      JSON.stringify(
        signTrustSet(
          createTrustSetPayload({ generation: 2, roots: [root.publicKey], releaseKeys, revoked }),
          [signer],
        ),
      ),
    );
  const bundle = (signer: string) => {
    for (const o of agentBundleObjects("console.log('agent')\n", signer, "agent/berth-agent.js", "0.1.0"))
      put(o.key, o.body);
  };
  const install = () =>
    run(process.execPath, [local(AGENT_INSTALLER_PATH)], {
      allowFailure: true,
      env: { ...process.env, PATH: `${join(dir, "bin")}:${process.env.PATH}` },
    });
  return { trustSet, bundle, install, installed: () => existsSync(local(AGENT_BUNDLE_PATH)) };
}

describe("the installer with trust roots", () => {
  it("installs a bundle signed by a release key of the root-signed trust set", async () => {
    const n = node();
    n.trustSet([b.publicKey], [keyIdOf(a.publicKey)]);
    n.bundle(b.privateKey);
    const r = await n.install();
    expect(r.exitCode, r.stderr).toBe(0);
    expect(n.installed()).toBe(true);
  });

  it("refuses a bundle signed by a revoked key", async () => {
    const n = node();
    n.trustSet([b.publicKey], [keyIdOf(a.publicKey)]);
    n.bundle(a.privateKey);
    const r = await n.install();
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/not signed by a trusted key/);
    expect(n.installed()).toBe(false);
  });

  it("refuses a trust set not signed by a root (a channel writer's)", async () => {
    const n = node();
    n.trustSet([a.publicKey], [], a.privateKey);
    n.bundle(a.privateKey);
    const r = await n.install();
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/trust set is not signed by a trust root/);
    expect(n.installed()).toBe(false);
  });
});
