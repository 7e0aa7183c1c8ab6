// Parsers for the answers of HAProxy's runtime API (2.6 and 3.0), and the decision of a release
// switch. Pure: text in, values out; runtime-api.ts does the socket I/O.

export type AdminState = "ready" | "drain" | "maint";
export type OpState = "down" | "starting" | "up" | "stopping";

export interface ServerStatus {
  backend: string;
  name: string;
  addr: string;
  port: number;
  admin: AdminState;
  op: OpState;
  /** Current sessions (`scur` of `show stat`); 0 when the stat line is missing. */
  sessions: number;
  /** `show stat`'s status column: UP, DOWN, MAINT, DRAIN, "no check", "UP 1/3" (going down), ... */
  status: string;
  /** The last health check's outcome ("Layer4 connection problem: Connection refused"), if checked. */
  check: string;
}

export interface ServerStateRow {
  backend: string;
  name: string;
  addr: string;
  port: number;
  opState: number;
  adminState: number;
}

// srv_admin_state bits (HAProxy's server-t.h): FMAINT 0x01, IMAINT 0x02, CMAINT 0x04 (only
// "configured disabled", stays set after `state ready`), FDRAIN 0x08, IDRAIN 0x10, RMAINT 0x20,
// HMAINT 0x40.
const MAINT_BITS = 0x01 | 0x02 | 0x20 | 0x40;
const DRAIN_BITS = 0x08 | 0x10;

export function decodeAdminState(bits: number): AdminState {
  if (bits & MAINT_BITS) return "maint";
  if (bits & DRAIN_BITS) return "drain";
  return "ready";
}

export function decodeOpState(n: number): OpState {
  return (["down", "starting", "up", "stopping"] as const)[n] ?? "down";
}

/** Parses `show servers state [backend]`: a version line, a `#` header, one row per server. */
export function parseServersState(text: string): ServerStateRow[] {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  const header = lines.find((l) => l.startsWith("# "));
  if (!header) throw new Error(`not a 'show servers state' answer: ${firstLine(text)}`);
  const cols = header.slice(2).trim().split(/\s+/);
  const col = (name: string): number => {
    const i = cols.indexOf(name);
    if (i < 0) throw new Error(`'show servers state' has no column ${name}`);
    return i;
  };
  const [iBe, iSrv, iAddr, iPort, iOp, iAdmin] = [
    col("be_name"),
    col("srv_name"),
    col("srv_addr"),
    col("srv_port"),
    col("srv_op_state"),
    col("srv_admin_state"),
  ];
  return lines
    .filter((l) => !l.startsWith("#") && /\s/.test(l.trim()))
    .map((l) => {
      const f = l.trim().split(/\s+/);
      return {
        backend: f[iBe] ?? "",
        name: f[iSrv] ?? "",
        addr: f[iAddr] ?? "",
        port: Number(f[iPort] ?? 0),
        opState: Number(f[iOp] ?? 0),
        adminState: Number(f[iAdmin] ?? 0),
      };
    });
}

/** Parses `show stat` CSV (header `# pxname,svname,...`) into one record per line, by column name. */
export function parseStatCsv(text: string): Record<string, string>[] {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  const header = lines[0];
  if (!header?.startsWith("# ")) throw new Error(`not a 'show stat' answer: ${firstLine(text)}`);
  const cols = header.slice(2).split(",");
  return lines.slice(1).map((l) => {
    const f = l.split(",");
    const rec: Record<string, string> = {};
    cols.forEach((c, i) => {
      if (c !== "" && c !== "-") rec[c] = f[i] ?? "";
    });
    return rec;
  });
}

/** Joins the two views of a backend's servers by name (state from one, sessions from the other). */
export function mergeServerStatus(
  state: readonly ServerStateRow[],
  stat: readonly Record<string, string>[],
): ServerStatus[] {
  return state.map((s) => {
    const line = stat.find((r) => r.pxname === s.backend && r.svname === s.name);
    return {
      backend: s.backend,
      name: s.name,
      addr: s.addr,
      port: s.port,
      admin: decodeAdminState(s.adminState),
      op: decodeOpState(s.opState),
      sessions: Number(line?.scur || 0),
      status: line?.status ?? "",
      check: [line?.check_desc, line?.last_chk].filter((x) => x).join(": "),
    };
  });
}

// What HAProxy answers when a command fails (2.6 and 3.0). Successful `set` commands answer
// nothing or a sentence about what changed; `show` commands answer their data.
const ERROR_PATTERNS: readonly RegExp[] = [
  /^Unknown command/,
  /^No such /,
  /^Can't find /,
  /^Invalid /,
  /^Require /,
  /^Permission denied/,
  /^'[^']+' expects /,
  /expects /,
  /^Missing /,
  /^Failed /,
  /^Error/i,
  /^\[\d+\]: .*(error|failed)/i,
];

/** HAProxy's error text if `output` is a failure answer, else undefined. */
export function cliErrorText(output: string): string | undefined {
  const first = output.trimStart().split("\n")[0] ?? "";
  if (ERROR_PATTERNS.some((p) => p.test(first))) {
    // "Unknown command" lists every command; its first line says enough.
    return first.startsWith("Unknown command") ? "Unknown command" : output.trim();
  }
  return undefined;
}

/**
 * Whether a ready slot may take over traffic. Without checks: HAProxy's "no check" (UP).
 * With checks, HAProxy marks a slot UP the moment it leaves maintenance, before any check of
 * its new address ("UP 1/3" = up, but on its way down); only a plain "UP" (full health, so at
 * least fall-1 passed checks since) proves the new address answers. "DOWN" means a check
 * after the switch failed.
 */
export function slotReadiness(s: ServerStatus): "up" | "pending" | "down" {
  if (s.admin !== "ready") return "pending";
  if (s.op === "up" && (s.status === "UP" || s.status === "no check")) return "up";
  if (s.status === "DOWN") return "down";
  return "pending";
}

export interface SwitchTarget {
  addr: string;
  port: number;
}

export type SwitchPlan =
  /** The target already serves alone: nothing to do. */
  | { kind: "noop"; slot: string }
  /**
   * Point `slot` at the target (unless `reuse`: it already points there, e.g. after a switch
   * that stopped half way), make it ready, then drain and park `drain`.
   */
  | { kind: "switch"; slot: string; reuse: boolean; drain: string[] };

/**
 * Decides a switch from the backend's servers. The new slot is, in order of preference: a slot
 * already ready on the target (finishing an interrupted switch), a slot in maintenance, a slot
 * in drain with no sessions left. Every other ready or draining slot is drained afterwards.
 */
export function planSwitch(servers: readonly ServerStatus[], target: SwitchTarget): SwitchPlan {
  if (servers.length === 0) throw new Error("the backend has no server slots");
  const onTarget = (s: ServerStatus) => s.addr === target.addr && s.port === target.port;
  const live = servers.filter((s) => s.admin !== "maint");
  const ready = servers.filter((s) => s.admin === "ready");
  const already = ready.find(onTarget);
  if (already && live.length === 1) return { kind: "noop", slot: already.name };
  const chosen =
    already ??
    servers.find((s) => s.admin === "maint") ??
    servers.find((s) => s.admin === "drain" && s.sessions === 0);
  if (!chosen) {
    const list = servers.map((s) => `${s.name}=${s.admin} ${s.addr}:${s.port}`).join(", ");
    throw new Error(`no idle server slot to switch to (${list}); set one to maint first`);
  }
  return {
    kind: "switch",
    slot: chosen.name,
    reuse: chosen === already,
    drain: live.filter((s) => s !== chosen).map((s) => s.name),
  };
}

function firstLine(text: string): string {
  return JSON.stringify((text.trim().split("\n")[0] ?? "").slice(0, 200));
}

/** One step of a switch to several servers (a service's replicas): what to add, what to drain. */
export type BatchPlan =
  | { kind: "done" }
  | {
      kind: "batch";
      /** Idle slots to point at a target and make ready. */
      add: { slot: string; target: SwitchTarget }[];
      /** Slots already on a target but draining (an interrupted switch back): ready again. */
      ready: string[];
      /** Old slots to drain once the added ones are up. */
      drain: string[];
    };

/**
 * The next step of a switch to `targets`, `parallelism` at a time (undefined: all at once): the
 * next targets not yet served go to idle slots, and as many old servers are drained after them
 * (all that are left with the last batch), so the backend keeps at least as many ready servers
 * as it had. Called again after each step until it says done.
 */
export function planBatch(
  servers: readonly ServerStatus[],
  targets: readonly SwitchTarget[],
  parallelism?: number,
): BatchPlan {
  if (servers.length === 0) throw new Error("the backend has no server slots");
  const onTarget = (s: ServerStatus) => targets.some((t) => s.addr === t.addr && s.port === t.port);
  const readyAgain = servers.filter((s) => s.admin === "drain" && onTarget(s)).map((s) => s.name);
  const served = (t: SwitchTarget) =>
    servers.some((s) => s.admin !== "maint" && s.addr === t.addr && s.port === t.port);
  const pending = targets.filter((t) => !served(t));
  // Old servers, the ones already draining first.
  let old = servers
    .filter((s) => s.admin !== "maint" && !onTarget(s))
    .sort((a, b) => (a.admin === b.admin ? 0 : a.admin === "drain" ? -1 : 1));
  if (pending.length === 0 && old.length === 0 && readyAgain.length === 0) return { kind: "done" };
  const batch = pending.slice(0, parallelism && parallelism > 0 ? parallelism : pending.length);
  const idle = servers.filter((s) => s.admin === "maint");
  for (const s of old.filter((o) => o.admin === "drain" && o.sessions === 0)) {
    if (idle.length >= batch.length) break;
    idle.push(s);
    old = old.filter((o) => o !== s);
  }
  if (idle.length < batch.length) {
    const list = servers.map((s) => `${s.name}=${s.admin} ${s.addr}:${s.port}`).join(", ");
    throw new Error(
      `${batch.length} server slots are needed and ${idle.length} are idle (${list}); the route's backend needs more slots`,
    );
  }
  const last = pending.length === batch.length;
  return {
    kind: "batch",
    add: batch.map((target, i) => ({ slot: (idle[i] as ServerStatus).name, target })),
    ready: readyAgain,
    drain: (last ? old : old.slice(0, batch.length)).map((s) => s.name),
  };
}
