// One access session over a WebSocket. Binary frames are the bulk stream, sent as they are (no
// copy, no header): the client's standard input one way, standard output the other. Text frames
// carry JSON: from the client {"type":"eof"} and {"type":"resize","cols":C,"rows":R}; from the
// node {"type":"stderr","data":BASE64}, then {"type":"exit","code":N} or {"type":"error",
// "message":M} as the last frame before the close.
import type { WebSocket } from "ws";

/** Above this much unsent data a writer waits (the peer reads slower than the source writes). */
const HIGH_WATER = 4 * 1024 * 1024;
/** The largest frame a client may send (a chunk of stdin or of a file being written). */
export const MAX_FRAME_BYTES = 1024 * 1024;

export type ControlFromClient = { type: "eof" } | { type: "resize"; cols: number; rows: number };
export type ControlFromNode =
  | { type: "exit"; code: number }
  | { type: "error"; message: string }
  | { type: "stderr"; data: string };

/** What an action's handler uses of a session: a WebSocket one, or a plain HTTP upload (http-upload.ts). */
export interface StreamSession {
  /** An upload's socket for a child process to read its body of `bytes` from (http-upload.ts), when it can. */
  takeBody?(bytes: number): import("node:net").Socket | undefined;
  /** After takeBody: tells the client to send the body. */
  sendContinue?(): void;
  /** A plain-HTTP upload's answer says to send the file in a WebSocket session instead (http-upload.ts). */
  useSession?(): void;
  /** A file asked for with a plain GET (http-download.ts): its answer; absent in a WebSocket session. */
  readonly download?: DownloadAnswer;
  readonly signal: AbortSignal;
  pause(): void;
  resume(): void;
  onStdin(chunk: (b: Buffer) => void, end: () => void): void;
  onResize(handler: (cols: number, rows: number) => void): void;
  write(stream: "stdout" | "stderr", chunk: Buffer | string): Promise<void>;
  pipe(from: NodeJS.ReadableStream, stream: "stdout" | "stderr"): Promise<void>;
  finish(result: ControlFromNode): void;
}

/** The answer to a plain GET of a file, which a child process may write (http-download.ts). */
export interface DownloadAnswer {
  /** The response's socket for a child to write the whole answer on; once, else undefined. */
  take(): import("node:net").Socket | undefined;
  /** The answer's head up to (not including) its content-length and the blank line. */
  head(): string;
  /** The child wrote the answer (whole, or cut short): nothing more is written here. */
  answered(): void;
  /** The client is told to read the file in a WebSocket session instead. */
  useSession(): void;
}

/**
 * A session's standard input into a writable (a process's stdin, a socket), with backpressure:
 * reading pauses while the writable is full. At the end of input, `end` runs and reading goes on,
 * because a writable ended with data still buffered never emits "drain": a WebSocket client's
 * close frame would wait unread and the session would end only at ws's 30 s close timeout.
 */
export function stdinTo(
  s: Pick<StreamSession, "pause" | "resume" | "onStdin">,
  w: NodeJS.WritableStream & { once(e: "drain", f: () => void): unknown },
  end: () => void,
): void {
  s.onStdin(
    (b) => {
      if (!w.write(b)) {
        s.pause();
        w.once("drain", () => s.resume());
      }
    },
    () => {
      end();
      s.resume();
    },
  );
}

export class Session implements StreamSession {
  private readonly aborter = new AbortController();
  private stdinHandler: ((chunk: Buffer) => void) | undefined;
  private eofHandler: (() => void) | undefined;
  private resizeHandler: ((cols: number, rows: number) => void) | undefined;
  /** Chunks that arrived before a handler was set (a client may type before the exec starts). */
  private pending: Buffer[] = [];
  private eofSeen = false;
  private finished = false;

  constructor(private readonly ws: WebSocket) {
    ws.on("message", (data, isBinary) => this.receive(data as Buffer, isBinary));
    ws.on("close", () => this.aborter.abort());
    ws.on("error", () => this.aborter.abort());
  }

  /** Aborted when the client goes away: every command of the session stops with it. */
  get signal(): AbortSignal {
    return this.aborter.signal;
  }

  private receive(data: Buffer, isBinary: boolean): void {
    if (isBinary) {
      if (this.stdinHandler) this.stdinHandler(data);
      else this.pending.push(data);
      return;
    }
    let msg: ControlFromClient;
    try {
      msg = JSON.parse(data.toString("utf8")) as ControlFromClient;
    } catch {
      return;
    }
    if (msg.type === "eof") {
      this.eofSeen = true;
      if (this.stdinHandler) this.eofHandler?.();
    } else if (msg.type === "resize" && Number.isInteger(msg.cols) && Number.isInteger(msg.rows)) {
      this.resizeHandler?.(Math.min(Math.max(msg.cols, 1), 1000), Math.min(Math.max(msg.rows, 1), 1000));
    }
  }

  /** Standard input of the session: chunks, then the end. Chunks sent before this are delivered. */
  /** Stops reading from the client until `resume` (the consumer of stdin is behind). */
  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  onStdin(chunk: (b: Buffer) => void, end: () => void): void {
    this.stdinHandler = chunk;
    this.eofHandler = end;
    for (const b of this.pending) chunk(b);
    this.pending = [];
    if (this.eofSeen) end();
  }

  onResize(handler: (cols: number, rows: number) => void): void {
    this.resizeHandler = handler;
  }

  /** Sends a chunk of stdout or stderr; resolves when the peer keeps up again. */
  async write(stream: "stdout" | "stderr", chunk: Buffer | string): Promise<void> {
    if (this.finished || this.ws.readyState !== this.ws.OPEN) return;
    const data = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    for (let i = 0; i < data.length; i += MAX_FRAME_BYTES) {
      const part = data.subarray(i, i + MAX_FRAME_BYTES);
      if (stream === "stdout") this.ws.send(part, { binary: true });
      else this.ws.send(JSON.stringify({ type: "stderr", data: part.toString("base64") }));
    }
    while (this.ws.bufferedAmount > HIGH_WATER && this.ws.readyState === this.ws.OPEN && !this.signal.aborted)
      await new Promise((r) => setTimeout(r, 5));
  }

  /** Pipes a readable (a process's output) into a stream of the session, with backpressure. */
  async pipe(from: NodeJS.ReadableStream, stream: "stdout" | "stderr"): Promise<void> {
    for await (const chunk of from as AsyncIterable<Buffer>) await this.write(stream, chunk);
  }

  /** Ends the session with an exit code (or an error the client prints). */
  finish(result: ControlFromNode): void {
    if (this.finished) return;
    this.finished = true;
    // Reading must go on for the close handshake, whatever paused it.
    this.resume();
    if (this.ws.readyState === this.ws.OPEN) {
      this.ws.send(JSON.stringify(result));
      this.ws.close(1000);
    }
  }
}
