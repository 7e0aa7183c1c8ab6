import { type AddressInfo, connect, createServer, type Server } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { forwardRegistry } from "./registry-forwarder";

const servers: Server[] = [];
afterAll(() => {
  for (const s of servers) s.close();
});

/** A TCP server on loopback answering each line with "echo <line>"; its port. */
async function echoServer(): Promise<number> {
  const s = createServer((c) => c.on("data", (d) => c.write(`echo ${d}`)));
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return (s.address() as AddressInfo).port;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Sends "hi" to port and returns the answer, or the connection's error code. */
function ask(port: number): Promise<string> {
  return new Promise((resolve) => {
    const c = connect(port, "127.0.0.1", () => c.write("hi"));
    c.on("data", (d) => {
      resolve(String(d));
      c.destroy();
    });
    c.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
  });
}

describe("the registry forwarder", () => {
  it("forwards while a build holds it, shares the listener, and closes after the last release even with idle connections", async () => {
    const target = await echoServer();
    const at = await freePort();
    const a = await forwardRegistry(`127.0.0.1:${at}`, `127.0.0.1:${target}`);
    const b = await forwardRegistry(`127.0.0.1:${at}`, `127.0.0.1:${target}`);
    expect(await ask(at)).toBe("echo hi");
    // An idle connection (BuildKit keeps them for minutes) does not hold the close.
    const idle = connect(at, "127.0.0.1");
    idle.on("error", () => undefined);
    await new Promise((r) => idle.once("connect", r));
    await a();
    expect(await ask(at)).toBe("echo hi");
    await b();
    await b(); // a second release is nothing
    expect(await ask(at)).toBe("ECONNREFUSED");
    // And it can be taken again.
    const c = await forwardRegistry(`127.0.0.1:${at}`, `127.0.0.1:${target}`);
    expect(await ask(at)).toBe("echo hi");
    await c();
  });

  it("says where it could not listen", async () => {
    await expect(forwardRegistry("192.0.2.1:5000", "127.0.0.1:5000")).rejects.toThrow(
      /cannot forward the registry 127\.0\.0\.1:5000 to the builders' network at 192\.0\.2\.1:5000/,
    );
  });
});
