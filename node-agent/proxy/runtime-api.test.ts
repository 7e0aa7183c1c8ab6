// The client against a fake admin socket: one answer per connection, as HAProxy does.
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HaproxyRuntimeApi, RuntimeApiError } from "./runtime-api";

let dir: string;
let server: Server;
let socketPath: string;
const received: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "berth-rtapi-"));
  socketPath = join(dir, "admin.sock");
  server = createServer({ allowHalfOpen: true }, (c) => {
    let buf = "";
    c.on("data", (d) => {
      buf += d.toString();
      if (!buf.endsWith("\n")) return;
      const cmd = buf.trim();
      received.push(cmd);
      if (cmd === "set server be_x/s1 state ready") c.end("");
      else if (cmd.startsWith("set server be_x/s9")) c.end("No such server.\n");
      else if (cmd === "hang") return;
      else c.end("Unknown command, but maybe one of the following ones is a better match:\n  help\n");
    });
  });
  await new Promise<void>((r) => server.listen(socketPath, r));
});
afterAll(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("HaproxyRuntimeApi", () => {
  const api = () => new HaproxyRuntimeApi({ socketPath, timeoutMs: 500 });

  it("sends one command per connection and accepts a silent success", async () => {
    await api().setServerState("be_x", "s1", "ready");
    expect(received).toContain("set server be_x/s1 state ready");
  });

  it("carries HAProxy's own error text", async () => {
    const e = await api()
      .setServerState("be_x", "s9", "drain")
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RuntimeApiError);
    expect((e as Error).message).toBe("HAProxy refused 'set server be_x/s9 state drain': No such server.");
    await expect(api().command("bogus")).rejects.toThrow(/HAProxy refused 'bogus': Unknown command/);
  });

  it("names a missing socket, and bounds a command that gets no answer", async () => {
    const missing = new HaproxyRuntimeApi({ socketPath: join(dir, "nope.sock") });
    await expect(missing.ping()).rejects.toThrow(
      /admin socket .*nope\.sock does not exist: is haproxy running/,
    );
    await expect(api().execute("hang")).rejects.toThrow(/'hang': no answer within 500 ms/);
  });

  it("refuses names that could smuggle a second command", async () => {
    await expect(api().setServerState("be_x;shutdown", "s1", "ready")).rejects.toThrow(
      /not a valid HAProxy name/,
    );
    await expect(api().setServerAddr("be_x", "s1", "1.2.3.4 port 1;", 80)).rejects.toThrow(/not an IP/);
  });
});
