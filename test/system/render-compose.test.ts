// The rendered file is what the node's real Docker Compose accepts, and it interpolates
// nothing but berth's secret variables.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { renderNodeCompose, secretVariable } from "../../contract/render/node-compose";
import { pinnedImages, sampleManifest } from "../../contract/render/testdata";
import { run } from "../../lib/process";

describe("a rendered Compose file under the real docker compose", () => {
  const m = sampleManifest(2);
  (m.services.web as NonNullable<(typeof m.services)["web"]>).replicas = 3;
  const r = renderNodeCompose(m, { environmentId: "prod", sequence: 3, images: pinnedImages(m) });
  const file = join(mkdtempSync(join(tmpdir(), "berth-render-")), "compose.yaml");
  writeFileSync(file, r.text);

  it("is valid, with secrets taken from the variables the agent sets", async () => {
    const env = Object.fromEntries(Object.values(r.extras.secrets).map((v, i) => [v, `value-${i}`]));
    const out = await run(
      "docker",
      ["compose", "-p", "berth-prod-3", "-f", file, "config", "--format", "json"],
      {
        isolatedEnv: true,
        env,
      },
    );
    const cfg = JSON.parse(out.stdout);
    expect(cfg.services.web.environment.API_TOKEN).toBe(env[secretVariable("api-token")]);
    // `config` prints a Compose file again, so a literal `$` comes back escaped as `$$`: the
    // value survived interpolation (an unescaped `$5` would have become "").
    expect(cfg.services.store.environment.PRICE).toBe("$$5");
    expect(cfg.services.web.command).toEqual(["node", "server.js", "--greeting", "hello $$USER"]);
    expect(cfg.services.web.ports[0]).toMatchObject({ target: 8080, host_ip: "127.0.0.1" });
    expect(cfg.services.web.ports[0].published ?? "").toBe("");
    expect(Number(cfg.services.web.deploy.resources.limits.memory)).toBe(512 * 1024 * 1024);
    expect(cfg.services.web.deploy.replicas).toBe(3);
    expect(cfg.networks.default).toMatchObject({ name: "berth_prod", external: true });
  });

  it("fails to start when a secret was not provided, naming it", async () => {
    const res = await run("docker", ["compose", "-p", "berth-prod-3", "-f", file, "config", "--quiet"], {
      isolatedEnv: true,
      allowFailure: true,
    });
    expect(res.exitCode).not.toBe(0);
    expect(res.stderr).toMatch(/secret \S+ was not provided/);
  });

  it("keeps x-berth for the agent", () => {
    expect(parse(r.text)["x-berth"].volumes[0].name).toBe("berth_prod_data");
  });
});
