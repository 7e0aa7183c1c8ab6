// An upload's file beside its target (`.berth-upload-<id>`, splice-relay.ts) removed when the
// upload will not finish. A part that fails removes it itself (the relay), but an upload cut
// between parts (its client killed, its connection lost, a part refused before its relay started)
// sends nothing more, and an agent killed mid-part leaves it too.
//
// - The agent knows each upload's parts: which are being written, which landed. Once none is
//   being written and no part came for `abandonMs`, the upload is dropped and its file removed;
//   at once when a part failed. A part that comes later starts afresh, and the last part is taken
//   only when the parts before it all landed in this agent's life (`begin`): a file removed under
//   a slow client is never made whole with a hole in it.
// - Each open upload has a record on the node's disk (the journal: the workspace, the folder, the
//   file's name, the user's ids; no secret), removed with the upload. A record left by an agent
//   that was killed is acted on by the next one (`sweep`, at its start and then every few
//   minutes): the file is removed, with the folder's other leftovers not written for an hour.
//
// The removal is the relay's `clean`, as the remote user, from the container's root, following no
// link, of exactly-named regular files of that user's own: nothing the user could not remove.
import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describeError } from "../../lib/errors";
import type { Logger } from "../../lib/log";
import type { RemoteUser } from "./splice-relay";

/** Where an upload writes: the workspace, the folder inside its container, the file beside the target. */
export interface UploadPlace {
  workspace: string;
  /** The folder, absolute and resolved inside the container. */
  dir: string;
  /** `.berth-upload-<id>`. */
  partial: string;
  /** The remote user as the relay becomes it (ids as the node sees them). */
  user: RemoteUser;
}

/** One part: its bytes, where they start in the file, and the file's size. */
export interface UploadPartSpan {
  offset: number;
  size: number;
  total: number;
}

/**
 * A leftover not written for this long is stale in a folder the sweep visits: longer than any
 * open upload waits for its next part (workspaces.uploadAbandonSeconds, at most 30 min), so no
 * file of an upload this agent holds open is removed under it.
 */
export const STALE_LEFTOVER_MS = 3600_000;
/** A journal record whose workspace did not run for this long is dropped, its file left. */
const JOURNAL_KEPT_MS = 7 * 24 * 3600_000;
/** The most uploads open at once on a node (and records one sweep reads). */
const MAX_OPEN = 256;

/**
 * Removes `place`'s file and, when `before` is not 0, the folder's leftovers last written before
 * that time (epoch seconds); resolves with the names removed, throws saying why it could not.
 */
export type CleanLeftovers = (place: UploadPlace, before: number) => Promise<string[]>;

export interface UploadLeftoversDeps {
  /** The journal's folder (the state root's access/uploads). */
  journalDir: string;
  /** An upload with no part being written for this long is dropped and its file removed. */
  abandonMs: number;
  clean: CleanLeftovers;
  log: Logger;
  now?: () => number;
}

interface OpenUpload {
  place: UploadPlace;
  total: number;
  /** The bytes that landed, as sorted, merged [start, end) spans. */
  landed: [number, number][];
  writing: number;
  failed: boolean;
  timer?: NodeJS.Timeout;
  record: string;
}

/** `spans` with [start, end) added, sorted and merged (pure). */
export function addSpan(spans: readonly [number, number][], start: number, end: number): [number, number][] {
  const all = [...spans, [start, end] as [number, number]].sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const s of all) {
    const prev = out.at(-1);
    if (prev && s[0] <= prev[1]) prev[1] = Math.max(prev[1], s[1]);
    else out.push([s[0], s[1]]);
  }
  return out;
}

/** Whether `spans` hold every byte of [0, end) (pure). */
export const holdsUpTo = (spans: readonly [number, number][], end: number): boolean =>
  end === 0 || (spans[0]?.[0] === 0 && spans[0][1] >= end);

const keyOf = (p: UploadPlace) => `${p.workspace}/${p.partial}`;
const sameUser = (a: RemoteUser, b: RemoteUser) =>
  a.uid === b.uid && a.gid === b.gid && a.groups.join(",") === b.groups.join(",");

/** A journal record as read back: what the clean needs, or undefined when it is not one. */
function recordOf(text: string): { place: UploadPlace; at: number } | undefined {
  try {
    const r = JSON.parse(text) as { place?: UploadPlace; at?: number };
    const p = r.place;
    const ids = p?.user && [p.user.uid, p.user.gid, ...(Array.isArray(p.user.groups) ? p.user.groups : [-1])];
    if (
      !p ||
      typeof p.workspace !== "string" ||
      typeof p.dir !== "string" ||
      !p.dir.startsWith("/") ||
      !/^\.berth-upload-[0-9a-f]{32}$/.test(p.partial) ||
      typeof p.user?.user !== "string" ||
      !ids?.every((n) => Number.isSafeInteger(n) && n >= 0) ||
      typeof r.at !== "number"
    )
      return undefined;
    return { place: p, at: r.at };
  } catch {
    return undefined;
  }
}

export class UploadLeftovers {
  private readonly open = new Map<string, OpenUpload>();
  private readonly now: () => number;
  private sweeping: Promise<void> | undefined;

  constructor(private readonly d: UploadLeftoversDeps) {
    this.now = d.now ?? Date.now;
  }

  /**
   * A part is about to be written: resolves undefined (go on; `end` follows), or why it is
   * refused. The last part of several is taken only once every byte before it landed here.
   */
  async begin(place: UploadPlace, part: UploadPartSpan): Promise<string | undefined> {
    const key = keyOf(place);
    let u = this.open.get(key);
    if (u && (u.place.dir !== place.dir || !sameUser(u.place.user, place.user) || u.total !== part.total))
      return "this part names another folder, user or file size than the upload's other parts: nothing written";
    if (part.offset > 0 && part.offset + part.size === part.total && !(u && this.whole(u, part.offset)))
      return `the upload's earlier parts did not all land on this node (one failed, none came for ${Math.round(this.d.abandonMs / 1000)} s, or the node's agent restarted): nothing written; copy the file again`;
    if (!u) {
      if (this.open.size >= MAX_OPEN)
        return `this node has ${MAX_OPEN} uploads open: copy the file again once one ends`;
      u = {
        place,
        total: part.total,
        landed: [],
        writing: 0,
        failed: false,
        record: `${randomBytes(8).toString("hex")}.json`,
      };
      this.open.set(key, u);
      try {
        await this.journal(u);
      } catch (e) {
        this.open.delete(key);
        throw e;
      }
    }
    clearTimeout(u.timer);
    u.timer = undefined;
    u.writing++;
    return undefined;
  }

  /** A part begun ended: landed (its bytes are in the file; the last one made it whole) or not. */
  end(place: UploadPlace, part: UploadPartSpan, landed: boolean): void {
    const u = this.open.get(keyOf(place));
    if (!u) {
      // The upload ended while this part was written (its last part landed, or it was dropped
      // after a part failed): a file this part made after that is no one's.
      void this.cleanAt(place, 0);
      return;
    }
    u.writing--;
    if (landed) {
      if (part.offset + part.size === part.total) {
        this.drop(u);
        void this.forget(u);
        return;
      }
      u.landed = addSpan(u.landed, part.offset, part.offset + part.size);
    } else u.failed = true;
    if (u.writing > 0) return;
    if (u.failed) void this.abandon(u);
    else {
      u.timer = setTimeout(() => void this.abandon(u), this.d.abandonMs);
      u.timer.unref();
    }
  }

  /**
   * Acts on the journal's records of uploads this agent does not hold open (left by an agent
   * that was killed, or whose clean failed): each file is removed, with its folder's stale
   * leftovers. A record whose workspace does not run is kept for a later sweep, up to a week.
   */
  async sweep(): Promise<void> {
    this.sweeping ??= this.sweepOnce().finally(() => {
      this.sweeping = undefined;
    });
    await this.sweeping;
  }

  private async sweepOnce(): Promise<void> {
    const names = await readdir(this.d.journalDir).catch(() => [] as string[]);
    const live = new Set([...this.open.values()].map((u) => u.record));
    for (const name of names.filter((n) => n.endsWith(".json") && !live.has(n)).slice(0, MAX_OPEN)) {
      const file = join(this.d.journalDir, name);
      const r = recordOf(await readFile(file, "utf8").catch(() => ""));
      if (!r) {
        this.d.log.warn({ record: file }, "an upload's journal record that does not parse: removed");
        await rm(file, { force: true });
        continue;
      }
      if (this.open.has(keyOf(r.place))) continue;
      if (await this.cleanAt(r.place, this.now() - STALE_LEFTOVER_MS)) await rm(file, { force: true });
      else if (this.now() - r.at > JOURNAL_KEPT_MS) await rm(file, { force: true });
    }
  }

  private whole(u: OpenUpload, offset: number): boolean {
    return !u.failed && u.writing === 0 && holdsUpTo(u.landed, offset);
  }

  private drop(u: OpenUpload): void {
    clearTimeout(u.timer);
    if (this.open.get(keyOf(u.place)) === u) this.open.delete(keyOf(u.place));
  }

  /** No part will make it whole: dropped (a later part starts afresh) and its file removed. */
  private async abandon(u: OpenUpload): Promise<void> {
    if (u.writing > 0) return;
    this.drop(u);
    if (await this.cleanAt(u.place, this.now() - STALE_LEFTOVER_MS)) await this.forget(u);
  }

  /** Removes the file (and the folder's stale leftovers): whether the clean ran. */
  private async cleanAt(place: UploadPlace, staleBefore: number): Promise<boolean> {
    try {
      const removed = await this.d.clean(place, Math.floor(staleBefore / 1000));
      if (removed.length > 0)
        this.d.log.info(
          { workspace: place.workspace, dir: place.dir, removed },
          "removed the leftovers of uploads that did not finish",
        );
      return true;
    } catch (e) {
      this.d.log.warn(
        { workspace: place.workspace, dir: place.dir, file: place.partial, err: describeError(e) },
        "could not remove an unfinished upload's file yet (kept in the journal for a later sweep)",
      );
      return false;
    }
  }

  private async journal(u: OpenUpload): Promise<void> {
    await mkdir(this.d.journalDir, { recursive: true, mode: 0o700 });
    await writeFile(join(this.d.journalDir, u.record), JSON.stringify({ place: u.place, at: this.now() }), {
      mode: 0o600,
    });
  }

  private async forget(u: OpenUpload): Promise<void> {
    await rm(join(this.d.journalDir, u.record), { force: true }).catch(() => {});
  }
}
