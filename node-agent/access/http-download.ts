// A file download as one plain HTTP GET (access protocol 6): the answer's body is the file, with
// its length. The agent checks the request (token, grant, nonce, container, the read check as the
// remote user), then hands the response's socket to the splice relay (splice-relay.ts), which
// writes the whole answer: the head with the file's length, then the file, from the engine's
// archive, through the kernel. The file never enters the agent's heap.
//
// Any other outcome is a JSON answer written here, `content-type: application/json`:
// `{"type":"exit","code":N,"stderr":BASE64}` (a file that is absent or not readable),
// `{"type":"error","message":M}`, or `{"type":"session"}`: this node reads that file better in a
// WebSocket session (`cat` as the remote user: a device, a pipe, a /proc file, or no relay here),
// and the client opens one.
import type { IncomingMessage, ServerResponse } from "node:http";
import { Socket } from "node:net";
import { ACCESS_PROTOCOL, PROTOCOL_HEADER } from "../../contract/access";
import { BoundedSink } from "./bounded-sink";
import type { ControlFromNode, DownloadAnswer, StreamSession } from "./session";

export class HttpDownloadSession implements StreamSession, DownloadAnswer {
  private readonly aborter = new AbortController();
  private readonly stderr = new BoundedSink();
  private finished = false;
  private taken = false;
  private childAnswered = false;
  private sessionAsked = false;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {
    // The client went away before the outcome: every command of the download stops with it.
    res.once("close", () => {
      if (!this.finished) this.aborter.abort();
    });
  }

  get download(): DownloadAnswer {
    return this;
  }

  get signal(): AbortSignal {
    return this.aborter.signal;
  }

  take(): Socket | undefined {
    if (this.taken || this.finished || this.res.headersSent || !(this.req.socket instanceof Socket))
      return undefined;
    this.taken = true;
    return this.req.socket;
  }

  head(): string {
    return `HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n${PROTOCOL_HEADER}: ${ACCESS_PROTOCOL}\r\nconnection: close\r\n`;
  }

  answered(): void {
    this.childAnswered = true;
  }

  useSession(): void {
    this.sessionAsked = true;
  }

  pause(): void {}
  resume(): void {}

  /** A GET has no body: its standard input ends at once. */
  onStdin(_chunk: (b: Buffer) => void, end: () => void): void {
    queueMicrotask(end);
  }

  onResize(): void {}

  /** stdout is not served here (the file goes through the relay); stderr is kept, bounded. */
  async write(stream: "stdout" | "stderr", chunk: Buffer | string): Promise<void> {
    if (stream === "stderr") this.stderr.add(chunk);
  }

  async pipe(from: NodeJS.ReadableStream, stream: "stdout" | "stderr"): Promise<void> {
    for await (const chunk of from as AsyncIterable<Buffer>) await this.write(stream, chunk);
  }

  finish(result: ControlFromNode): void {
    if (this.finished) return;
    this.finished = true;
    // The relay wrote the answer on its own descriptor: this process only lets go of its own.
    if (this.childAnswered) {
      this.req.socket.destroy();
      return;
    }
    const body = JSON.stringify(
      this.sessionAsked && result.type === "exit"
        ? { type: "session" }
        : { ...result, stderr: this.stderr.base64() },
    );
    this.res.writeHead(200, {
      [PROTOCOL_HEADER]: ACCESS_PROTOCOL,
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
      connection: "close",
    });
    this.res.end(body, () => this.req.socket.destroy());
  }
}
