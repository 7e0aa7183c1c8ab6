// The node's install steps for real: the rendered user data (inline agent bundle) run by cloud-init
// inside a throwaway container from the base image ($BERTH_BASE_IMAGE, Debian trixie). systemd does
// not run in a container, so after the stages the test checks what was installed and starts the
// agent by hand. Needs Docker and Debian's archive; run alone:
//   bash scripts/with-env.sh npx vitest run --project system test/system/cloud-init-install.test.ts
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  AGENT_BUNDLE_PATH,
  AGENT_CONFIG_PATH,
  AGENT_UNIT_PATH,
  CHANNEL_SECRET_PATH,
  ENROLLMENT_SECRET_PATH,
  renderCloudInit,
} from "../../components/deployment-node/cloud-init";
import { AGENT_BUNDLE } from "../../components/runtime-path";
import { DOCKER_DAEMON_JSON_PATH, NODE_DOCKERD_SETTINGS } from "../../contract/node/docker-daemon";
import { PROXY_UNIT_PATH } from "../../contract/node/proxy-unit";
import { generateSigningKeyPair } from "../../contract/payload";
import { run } from "../../lib/process";
import { renderHaproxyConfig } from "../../node-agent/proxy/haproxy-config";

const image = process.env.BERTH_BASE_IMAGE;
const name = `berth-ci-install-${process.pid}`;

async function exec(cmd: string, timeoutMs = 120_000) {
  return run("docker", ["exec", name, "sh", "-c", cmd], { allowFailure: true, timeoutMs });
}

afterAll(async () => {
  await run("docker", ["rm", "-f", name], { allowFailure: true });
});

describe("cloud-init install steps in a throwaway container", () => {
  it("installs Docker, Compose, HAProxy, Node.js and the agent, with its config and secret", async () => {
    if (!image) throw new Error("BERTH_BASE_IMAGE is not set: run through scripts/with-env.sh");
    const userData = renderCloudInit({
      nodeId: "ci-node",
      channel: {
        endpoint: "http://127.0.0.1:9",
        bucket: "channel",
        region: "us-east-1",
        prefix: "",
        accessKeyId: "K",
        secretAccessKey: "container-test-secret",
      },
      trustedKeys: [generateSigningKeyPair().publicKey],
      enrollmentSecret: randomBytes(32).toString("base64url"),
      agent: { kind: "inline", bundle: readFileSync(AGENT_BUNDLE, "utf8") },
    });
    const dir = mkdtempSync(join(tmpdir(), "berth-ci-install-"));
    writeFileSync(join(dir, "user-data"), userData);
    writeFileSync(join(dir, "meta-data"), "instance-id: berth-ci-install\nlocal-hostname: ci-node\n");

    await run("docker", ["run", "-d", "--name", name, image, "sleep", "infinity"], { timeoutMs: 60_000 });
    const prep = await exec(
      // systemd: its systemd-analyze checks the installed units (systemd itself does not run here).
      "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q cloud-init systemd >/dev/null",
      600_000,
    );
    expect(prep.exitCode, prep.stderr).toBe(0);
    await run("docker", ["exec", name, "mkdir", "-p", "/var/lib/cloud/seed/nocloud"]);
    for (const f of ["user-data", "meta-data"]) {
      await run("docker", ["cp", join(dir, f), `${name}:/var/lib/cloud/seed/nocloud/${f}`]);
    }
    // The stages; modules that need a full OS (locale, ssh host keys, systemctl) fail harmlessly here.
    for (const stage of [
      "cloud-init init --local",
      "cloud-init init",
      "cloud-init modules --mode=config",
      "cloud-init modules --mode=final",
    ]) {
      await exec(stage, 900_000);
    }

    // Packages from Debian's own archive, no third-party source.
    const versions = await exec(
      "docker --version && docker compose version && docker buildx version && haproxy -v | head -1 && node --version && restic version && unpigz -V",
    );
    expect(versions.exitCode, versions.stderr).toBe(0);
    expect(versions.stdout).toMatch(/Docker Compose version v?2\./);
    expect(versions.stdout).toMatch(/^pigz \d/m);
    // Docker 23 or later pulls the zstd layers of workspace cache images; the node's daemon.json
    // (more parallel layer downloads) is one this dockerd accepts.
    const engine = Number(versions.stdout.match(/^Docker version (\d+)\./m)?.[1]);
    expect(engine, versions.stdout).toBeGreaterThanOrEqual(23);
    const daemonJson = await exec(`dockerd --validate --config-file ${DOCKER_DAEMON_JSON_PATH}`);
    expect(daemonJson.exitCode, daemonJson.stderr).toBe(0);
    expect(`${daemonJson.stdout}${daemonJson.stderr}`).toMatch(/configuration OK/);
    expect(JSON.parse((await exec(`cat ${DOCKER_DAEMON_JSON_PATH}`)).stdout)).toEqual(NODE_DOCKERD_SETTINGS);
    const sources = await exec("cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null");
    expect(sources.stdout).not.toMatch(/download\.docker\.com|nodesource/);

    // Files and modes.
    const modes = await exec(
      `stat -c '%a %n' ${AGENT_CONFIG_PATH} ${CHANNEL_SECRET_PATH} ${ENROLLMENT_SECRET_PATH} ${AGENT_BUNDLE_PATH} ${AGENT_UNIT_PATH} ${PROXY_UNIT_PATH}`,
    );
    expect(modes.stdout).toContain(`600 ${AGENT_CONFIG_PATH}`);
    expect(modes.stdout).toContain(`600 ${CHANNEL_SECRET_PATH}`);
    expect(modes.stdout).toContain(`600 ${ENROLLMENT_SECRET_PATH}`);
    expect(modes.stdout).toContain(`755 ${AGENT_BUNDLE_PATH}`);
    expect(modes.stdout).toContain(`644 ${AGENT_UNIT_PATH}`);
    expect(modes.stdout).toContain(`644 ${PROXY_UNIT_PATH}`);

    // Both units as systemd reads them (its own checker: unknown keys, bad values, missing binaries).
    const verify = await exec(`systemd-analyze verify ${AGENT_UNIT_PATH} ${PROXY_UNIT_PATH}`);
    expect(verify.exitCode, verify.stderr).toBe(0);
    expect(verify.stderr.trim()).toBe("");

    // HAProxy as its unit runs it, on a configuration as the agent renders it (Debian 13's
    // HAProxy): the check, then `-Ws`; the master stays root, the worker is the haproxy user.
    const proxyDir = "/var/lib/berth/proxy";
    const cfg = renderHaproxyConfig({
      socketPath: `${proxyDir}/admin.sock`,
      http: { address: "127.0.0.1", port: 8080 },
      serverStateFile: `${proxyDir}/server-state`,
      routes: [{ host: "app.example" }],
      user: "haproxy",
      group: "haproxy",
      log: "stdout",
    });
    writeFileSync(join(dir, "haproxy.cfg"), cfg);
    await exec(`mkdir -p -m 0700 ${proxyDir} && printf '1\\n' > ${proxyDir}/server-state`);
    await run("docker", ["cp", join(dir, "haproxy.cfg"), `${name}:${proxyDir}/haproxy.cfg`]);
    const started = await exec(
      `sh -c "$(sed -n 's/^ExecStartPre=//p' ${PROXY_UNIT_PATH})" && ` +
        `(setsid sh -c "$(sed -n 's/^ExecStart=//p' ${PROXY_UNIT_PATH})" >/tmp/haproxy.out 2>&1 &) && sleep 2 && ` +
        `for d in /proc/[0-9]*; do [ "$(cat $d/comm 2>/dev/null)" = haproxy ] && stat -c %U $d; done | sort`,
    );
    expect(started.exitCode, started.stderr).toBe(0);
    expect(started.stdout.trim().split("\n")).toEqual(["haproxy", "root"]);

    // The installed agent runs and reads its config (systemd is not running: start it by hand).
    const version = await exec(`/usr/bin/node ${AGENT_BUNDLE_PATH} version`);
    expect(version.exitCode, version.stderr).toBe(0);
    const keysOut = await exec(`/usr/bin/node ${AGENT_BUNDLE_PATH} keys --config ${AGENT_CONFIG_PATH}`);
    expect(keysOut.exitCode, keysOut.stderr).toBe(0);
    expect(keysOut.stdout.trim()).toMatch(/^[A-Za-z0-9_-]{43}$/);
  }, 1_800_000);
});
