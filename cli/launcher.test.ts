// bin/berth, the CLI's launcher, with a stand-in `node` first on PATH that reports whether
// NODE_EXTRA_CA_CERTS reached it: an access command to a plain HTTP or Unix-socket endpoint starts
// Node.js without it (no CA bundle to parse); HTTPS, and every other command, keep it.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { run } from "../lib/process";

const dir = mkdtempSync(join(tmpdir(), "berth-launcher-"));
writeFileSync(
  join(dir, "node"),
  '#!/bin/sh\nif [ -z "$NODE_EXTRA_CA_CERTS" ]; then echo unset; else echo "$NODE_EXTRA_CA_CERTS"; fi\n',
  { mode: 0o755 },
);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function caSeen(args: string[], env: Record<string, string> = {}) {
  const r = await run(join(__dirname, "..", "bin", "berth"), args, {
    env: { PATH: `${dir}:${process.env.PATH}`, NODE_EXTRA_CA_CERTS: "/ca.pem", BERTH_ACCESS_URL: "", ...env },
  });
  return r.stdout.trim();
}

describe("bin/berth and NODE_EXTRA_CA_CERTS", () => {
  it("leaves it out for an access command to plain HTTP or a Unix socket", async () => {
    expect(await caSeen(["workspace", "cp", "a", "ws:b"])).toBe("unset");
    expect(await caSeen(["logs", "prod", "--url", "http://10.0.0.5:8088"])).toBe("unset");
    expect(await caSeen(["exec", "prod", "web", "--url=unix:/run/agent.sock"])).toBe("unset");
  });

  it("keeps it for HTTPS, however the URL is given, and for other commands", async () => {
    expect(await caSeen(["workspace", "shell", "ws", "--url", "https://node.example"])).toBe("/ca.pem");
    expect(await caSeen(["run", "prod", "web", "--url=https://node.example"])).toBe("/ca.pem");
    expect(await caSeen(["workspace", "cp", "a", "ws:b"], { BERTH_ACCESS_URL: "https://node.example" })).toBe(
      "/ca.pem",
    );
    // The remote command's own options are not the CLI's.
    expect(
      await caSeen([
        "workspace",
        "exec",
        "ws",
        "--url",
        "https://n.example",
        "--",
        "curl",
        "--url",
        "http://x",
      ]),
    ).toBe("/ca.pem");
    expect(await caSeen(["preview", "--url", "http://x"])).toBe("/ca.pem");
  });
});
