// A file upload as one plain HTTP PUT (access protocol 3): the request's body is the file, the
// response the outcome, `{"type":"exit","code":N,"stderr":BASE64}` (or `{"type":"error",…}`). No
// WebSocket frames: the proxy forwards the body as it is, and the agent reads it as node's HTTP
// parser hands it over, in the socket's own chunks, with no frame to reassemble. That cut the
// path's CPU (CLI, HAProxy, agent) for 1 GiB by about a third (docs/benchmarks.md).
import type { IncomingMessage, ServerResponse } from "node:http";
import type { ControlFromNode, StreamSession } from "./session";

/** What a failing upload may say on stderr, at most (the rest is cut). */
const MAX_STDERR_BYTES = 64 * 1024;

export class HttpUploadSession implements StreamSession {
  private readonly aborter = new AbortController();
  private readonly stderr: Buffer[] = [];
  private stderrBytes = 0;
  private finished = false;
  private bodyEnded = false;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly headers: Record<string, string | number> = {},
  ) {
    req.once("end", () => {
      this.bodyEnded = true;
    });
    // The client went away before the outcome: every command of the upload stops with it.
    res.once("close", () => {
      if (!this.finished) this.aborter.abort();
    });
  }

  get signal(): AbortSignal {
    return this.aborter.signal;
  }

  pause(): void {
    this.req.pause();
  }

  resume(): void {
    this.req.resume();
  }

  onStdin(chunk: (b: Buffer) => void, end: () => void): void {
    this.req.on("data", chunk);
    this.req.once("end", end);
  }

  onResize(): void {}

  /** stdout is dropped (an upload prints nothing); stderr is kept for the outcome, bounded. */
  async write(stream: "stdout" | "stderr", chunk: Buffer | string): Promise<void> {
    if (stream !== "stderr" || this.stderrBytes >= MAX_STDERR_BYTES) return;
    const b = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    const part = b.subarray(0, MAX_STDERR_BYTES - this.stderrBytes);
    this.stderr.push(part);
    this.stderrBytes += part.length;
  }

  async pipe(from: NodeJS.ReadableStream, stream: "stdout" | "stderr"): Promise<void> {
    for await (const chunk of from as AsyncIterable<Buffer>) await this.write(stream, chunk);
  }

  finish(result: ControlFromNode): void {
    if (this.finished) return;
    this.finished = true;
    const body = JSON.stringify({ ...result, stderr: Buffer.concat(this.stderr).toString("base64") });
    // An outcome before the whole body arrived (a refused path): the rest is not read, so the
    // connection cannot carry another request.
    const close = !this.bodyEnded;
    this.res.writeHead(200, {
      ...this.headers,
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
      ...(close ? { connection: "close" } : {}),
    });
    this.res.end(body, () => {
      if (close) this.req.socket.destroy();
    });
  }
}
