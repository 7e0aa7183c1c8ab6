// getFile against local servers: plain HTTP on a TCP port and on a Unix socket (the raw reader),
// and HTTPS (node's client, its chunks of a TLS record gathered before each write): a file answer
// written whole, a text answer returned, a file answer cut short, the file created only for a file
// answer, and which local file could not be written.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer, globalAgent } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selfSignedCertificate } from "../../lib/openssl";
import { CutShort, getFile } from "./get-file";

const dir = mkdtempSync(join(tmpdir(), "berth-get-file-"));
const FILE = Buffer.alloc(5 * 1024 * 1024 + 11);
for (let i = 0; i < FILE.length; i++) FILE[i] = (i * 31 + 7) & 0xff;
const seen: { url?: string; auth?: string } = {};

function serve(req: IncomingMessage, res: ServerResponse) {
  seen.url = req.url;
  seen.auth = req.headers.authorization;
  if (req.url === "/file") {
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": FILE.length });
    // In pieces, as a proxy forwards them.
    for (let i = 0; i < FILE.length; i += 300_000) res.write(FILE.subarray(i, i + 300_000));
    res.end();
  } else if (req.url === "/empty") {
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": 0 });
    res.end();
  } else if (req.url === "/cut") {
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": FILE.length });
    res.write(FILE.subarray(0, 1000), () => (res.socket as Socket).destroy());
  } else if (req.url === "/refused") {
    const body = JSON.stringify({ code: "WRONG_NODE", reason: "not this node" });
    res.writeHead(403, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  } else {
    // No length: chunked, as a proxy's page may be.
    res.writeHead(502, { "content-type": "text/plain" });
    res.write("bad ");
    res.end("gateway");
  }
}

const http: Server = createServer(serve);
const unix: Server = createServer(serve);
let https: ReturnType<typeof createHttpsServer> | undefined;
let base = "";
let secure = "";
const sock = join(dir, "s.sock");

beforeAll(async () => {
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  await new Promise<void>((r) => unix.listen(sock, r));
  base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const tls = await selfSignedCertificate({ commonName: "localhost", hosts: ["localhost"], days: 1 });
  https = createHttpsServer({ cert: tls.certificate, key: tls.key }, serve);
  await new Promise<void>((r) => https?.listen(0, "127.0.0.1", r));
  globalAgent.options.ca = tls.certificate;
  secure = `https://localhost:${(https.address() as AddressInfo).port}`;
});
afterAll(() => {
  http.close();
  unix.close();
  https?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("getFile", () => {
  const urls = () => [base, `unix:${sock}`, secure];

  it("writes a file answer whole, sending the path and headers it was given", async () => {
    for (const url of urls()) {
      const to = join(dir, "f.bin");
      rmSync(to, { force: true });
      const a = await getFile(url, "/file", { authorization: "Berth t0k" }, to);
      expect(a, url).toEqual({ kind: "file", bytes: FILE.length });
      expect(readFileSync(to).equals(FILE), url).toBe(true);
      expect(seen).toEqual({ url: "/file", auth: "Berth t0k" });
      const e = join(dir, "e.bin");
      expect(await getFile(url, "/empty", {}, e)).toEqual({ kind: "file", bytes: 0 });
      expect(readFileSync(e).length).toBe(0);
    }
  });

  it("returns any other answer's status, headers and text, and creates no file", async () => {
    for (const url of urls()) {
      const to = join(dir, "never.bin");
      const refused = await getFile(url, "/refused", {}, to);
      expect(refused).toMatchObject({ kind: "text", status: 403 });
      if (refused.kind === "text") {
        expect(JSON.parse(refused.text)).toEqual({ code: "WRONG_NODE", reason: "not this node" });
        expect(refused.headers["content-type"]).toBe("application/json");
      }
      expect(await getFile(url, "/other", {}, to)).toMatchObject({
        kind: "text",
        status: 502,
        text: "bad gateway",
      });
      expect(existsSync(to)).toBe(false);
    }
  });

  it("rejects with how much came when a file answer ends before its length", async () => {
    for (const url of urls()) {
      const e = await getFile(url, "/cut", {}, join(dir, "cut.bin")).catch((x: Error) => x);
      expect(e, url).toBeInstanceOf(CutShort);
      expect((e as CutShort).length).toBe(FILE.length);
      expect((e as CutShort).got).toBeLessThanOrEqual(1000);
    }
  });

  it("says which local file it cannot write", async () => {
    for (const url of urls()) {
      const e = await getFile(url, "/file", {}, join(dir, "no-such-folder", "f.bin")).catch((x: Error) => x);
      expect(String(e), url).toContain(`cannot write ${join(dir, "no-such-folder", "f.bin")}: ENOENT`);
    }
  });
});
