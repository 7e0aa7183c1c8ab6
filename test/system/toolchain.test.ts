// What setup promises: Compose v2 and buildx answer, and the local registry demands its
// htpasswd credentials (401 without, 200 with).
import { describe, expect, it } from "vitest";
import { run } from "../../lib/process";

const addr = process.env.BERTH_REGISTRY_ADDR ?? "";
const user = process.env.BERTH_REGISTRY_USER ?? "";
const password = process.env.BERTH_REGISTRY_PASSWORD ?? "";

describe("the machine's real components", () => {
  it("has Docker Compose v2 and buildx", async () => {
    expect((await run("docker", ["compose", "version", "--short"])).stdout).toMatch(/^v?2\.\d+/);
    expect((await run("docker", ["buildx", "version"])).stdout).toMatch(/buildx v?0\.\d+/);
  });

  it("has a local registry that answers 401 without credentials and 200 with them", async () => {
    expect(addr).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(password.length).toBeGreaterThanOrEqual(32);
    const anonymous = await fetch(`http://${addr}/v2/`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toMatch(/^Basic realm=/);
    const wrong = await fetch(`http://${addr}/v2/`, {
      headers: { authorization: `Basic ${Buffer.from(`${user}:not-the-password`).toString("base64")}` },
    });
    expect(wrong.status).toBe(401);
    const ok = await fetch(`http://${addr}/v2/`, {
      headers: { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` },
    });
    expect(ok.status).toBe(200);
  });

  it("has the base image in the local registry", async () => {
    const image = process.env.BERTH_BASE_IMAGE ?? "";
    const r = await run("docker", ["image", "inspect", "--format", "{{.Os}}", image], { allowFailure: true });
    expect(r.stdout.trim()).toBe("linux");
  });

  it("has HAProxy and cloud-init for the node's proxy and user data checks", async () => {
    expect((await run("haproxy", ["-v"])).stdout).toMatch(/HAProxy version [23]\.\d+/);
    expect(
      (await run("cloud-init", ["--version"])).stdout + (await run("cloud-init", ["--version"])).stderr,
    ).toMatch(/\d+\.\d+/);
  });
});
