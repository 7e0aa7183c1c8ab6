// A file upload as one plain HTTP PUT (access protocol 3): the request's body is the file, the
// response the outcome, `{"type":"exit","code":N,"stderr":BASE64}` (or `{"type":"error",…}`). No
// WebSocket frames: the proxy forwards the body as it is, and the agent reads it as node's HTTP
// parser hands it over, in the socket's own chunks, with no frame to reassemble. That cut the
// path's CPU (CLI, HAProxy, agent) for 1 GiB by about a third (docs/benchmarks.md).
//
// A client that sends `Expect: 100-continue` waits for the agent before it sends the body. Until
// then no byte of the body has reached this process, so a handler may hand the request's socket
// to a child process that reads the body itself (takeBody: the splice relay, splice-relay.ts) and only then say
// `100 Continue`: the body never enters the agent's heap. A client that does not wait (an older
// CLI, a proxy that answered 100 itself) has its body read here, as before.
import type { IncomingMessage, ServerResponse } from "node:http";
import { Socket } from "node:net";
import { BoundedSink } from "./bounded-sink";
import type { ControlFromNode, StreamSession } from "./session";

export class HttpUploadSession implements StreamSession {
  private readonly aborter = new AbortController();
  private readonly stderr = new BoundedSink();
  private finished = false;
  private bodyEnded = false;
  private continued = false;
  private bodyTaken = false;
  private sessionAsked = false;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly headers: Record<string, string | number> = {},
    /** The client sent `Expect: 100-continue` and waits for it before the body. */
    private readonly expectsContinue = false,
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
    this.sendContinue();
  }

  /**
   * The request's socket, for a child process to read the body from, when none of it has been
   * read here: the client waits for `100 Continue`, declared `bytes` as the body's length
   * (content-length, no transfer coding) and has not been told to send yet. Undefined otherwise
   * (onStdin then reads the body here). The caller hands it to the child at once, in this same
   * tick (node stops this process's reading at the spawn), then calls sendContinue.
   */
  takeBody(bytes: number): Socket | undefined {
    const h = this.req.headers;
    const whole =
      bytes > 0 &&
      this.expectsContinue &&
      !this.continued &&
      !this.bodyTaken &&
      h["transfer-encoding"] === undefined &&
      h["content-length"] === String(bytes) &&
      this.req.readableLength === 0 &&
      !this.req.complete;
    if (!whole || !(this.req.socket instanceof Socket)) return undefined;
    this.bodyTaken = true;
    return this.req.socket;
  }

  /** Tells a client that waits for it to send the body (`100 Continue`); once. */
  sendContinue(): void {
    if (!this.expectsContinue || this.continued || this.finished) return;
    this.continued = true;
    this.res.writeContinue();
  }

  /** The outcome says `{"type":"session"}`: the client sends the file in a WebSocket session. */
  useSession(): void {
    this.sessionAsked = true;
  }

  onResize(): void {}

  /** stdout is dropped (an upload prints nothing); stderr is kept for the outcome, bounded. */
  async write(stream: "stdout" | "stderr", chunk: Buffer | string): Promise<void> {
    if (stream === "stderr") this.stderr.add(chunk);
  }

  async pipe(from: NodeJS.ReadableStream, stream: "stdout" | "stderr"): Promise<void> {
    for await (const chunk of from as AsyncIterable<Buffer>) await this.write(stream, chunk);
  }

  finish(result: ControlFromNode): void {
    if (this.finished) return;
    this.finished = true;
    const body = JSON.stringify(
      this.sessionAsked && result.type === "exit"
        ? { type: "session" }
        : { ...result, stderr: this.stderr.base64() },
    );
    // An outcome before the whole body arrived (a refused path), or a body a child read: the
    // parser here did not see its end, so the connection cannot carry another request.
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
