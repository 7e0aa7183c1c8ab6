// Where a 1-byte `berth workspace cp` spends its time (bench:access): the CLI's process start and
// exit (`berth workspace cp --help --url URL`: Node.js and the bundle as the copy starts them, the
// launcher's choices included, no connection), the node's info (the GET the CLI
// makes first: node id and protocol), and the PUT, split at the agent's `100 Continue` (before:
// the proxy, the token's checks and nonce, the session's record, the container found, the write
// check in its shell, its root opened, the relay started; after: the byte, the relay's rename and
// exit, the session's end record, the answer).
import { request } from "node:http";
import { nodeInfoOf } from "../cli/access/client";
import {
  type AccessTarget,
  encodeAccessToken,
  PROTOCOL_HEADER,
  requestFor,
  signAccessToken,
} from "../contract/access";
import { run } from "../lib/process";

export interface CpSplit {
  /** `berth workspace cp --help`: the process's start and exit. */
  start: number;
  /** The node info GET. */
  info: number;
  /** The PUT's headers sent → `100 Continue`. */
  toContinue: number;
  /** `100 Continue` → the answer's end. */
  toAnswer: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** One PUT of `body` as the CLI sends it (Expect: 100-continue): ms to the continue and to the answer's end. */
async function timedPut(
  url: string,
  operator: { name: string; privateKey: string },
  target: AccessTarget,
  path: string,
  body: Buffer,
): Promise<{ toContinue: number; toAnswer: number }> {
  const info = await nodeInfoOf(url);
  const token = signAccessToken({
    operator: operator.name,
    privateKey: operator.privateKey,
    node: info.nodeId,
    target,
    action: "file-write",
    request: requestFor("file-write", { path, mode: 0o644, size: body.length }, info.protocol),
  });
  const u = new URL(`/.berth/access/v1/workspaces/${target.id}/file-write`, url);
  return await new Promise((resolve, reject) => {
    let sent = 0;
    let continued = 0;
    const req = request(
      u,
      {
        method: "PUT",
        headers: {
          authorization: encodeAccessToken(token),
          "content-type": "application/octet-stream",
          "content-length": body.length,
          expect: "100-continue",
        },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          text += c;
        });
        res.on("end", () => {
          const done = performance.now();
          if (res.statusCode !== 200 || !text.includes('"code":0'))
            reject(new Error(`the PUT answered ${res.statusCode} ${text} (${res.headers[PROTOCOL_HEADER]})`));
          else resolve({ toContinue: continued - sent, toAnswer: done - continued });
          req.destroy();
        });
      },
    );
    req.on("error", reject);
    req.once("continue", () => {
      continued = performance.now();
      req.end(body);
    });
    sent = performance.now();
    req.flushHeaders();
  });
}

/** Medians over `n` rounds of each part of a 1-byte copy to `target:path` (`berth` is the CLI's launcher). */
export async function cpSplit(
  berth: string,
  url: string,
  operator: { name: string; privateKey: string },
  target: AccessTarget,
  path: string,
  n = 5,
): Promise<CpSplit> {
  const starts: number[] = [];
  const infos: number[] = [];
  const puts: { toContinue: number; toAnswer: number }[] = [];
  for (let i = 0; i < n; i++) {
    let t0 = performance.now();
    const v = await run(berth, ["workspace", "cp", "--help", "--url", url]);
    if (v.exitCode !== 0) throw new Error(v.stderr);
    starts.push(performance.now() - t0);
    t0 = performance.now();
    await nodeInfoOf(url);
    infos.push(performance.now() - t0);
    puts.push(await timedPut(url, operator, target, path, Buffer.from("x")));
  }
  return {
    start: median(starts),
    info: median(infos),
    toContinue: median(puts.map((p) => p.toContinue)),
    toAnswer: median(puts.map((p) => p.toAnswer)),
  };
}
