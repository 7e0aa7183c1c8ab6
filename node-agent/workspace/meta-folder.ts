// The agent's own notes of a workspace, kept in the workspace's folder on the node: `meta/`
// (backed up with the tree and the home, so a new node finds them again) holds the commit the tree
// was put at and the home's and the tree's own owner and mode, which a restore makes anew; and
// `switch.request`, which `berth-agent workspace switch` leaves for the daemon. Each function
// takes the workspace's folder.
import {
  chmodSync,
  existsSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import * as z from "zod";

type Root = "home" | "tree";

const folderRoot = z.object({
  uid: z.number().int().min(0),
  gid: z.number().int().min(0),
  mode: z.number().int().min(0).max(0o7777),
});

/** The folder of notes backed up with the workspace. */
export function metaFolder(dir: string): string {
  return join(dir, "meta");
}

function note(dir: string, name: string, text: string): void {
  mkdirSync(metaFolder(dir), { recursive: true, mode: 0o700 });
  writeFileSync(join(metaFolder(dir), name), text, { mode: 0o600 });
}

export function noteCommit(dir: string, commit: string): void {
  note(dir, "commit", `${commit}\n`);
}

/** The commit noted for the tree (restored with it on a new node), when it is one. */
export function notedCommit(dir: string): string | undefined {
  const f = join(metaFolder(dir), "commit");
  if (!existsSync(f)) return undefined;
  const c = readFileSync(f, "utf8").trim();
  return /^[0-9a-f]{40,64}$/.test(c) ? c : undefined;
}

/**
 * A backed-up folder's own owner and mode (the home's, the tree's), noted before a backup: a
 * restore makes the folder anew (restic keeps what is inside it, as it was), and the remote user
 * must own its home and tree again.
 */
export function noteFolderRoot(dir: string, which: Root, folder: string): void {
  const st = lstatSync(folder);
  note(
    dir,
    `${which}-root.json`,
    `${JSON.stringify({ uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 })}\n`,
  );
}

/** Gives a restored folder the owner and mode noted with its backup (nothing when none is noted). */
export function restoreFolderRoot(dir: string, which: Root, folder: string): void {
  const f = join(metaFolder(dir), `${which}-root.json`);
  if (!existsSync(f)) return;
  let text: unknown;
  try {
    text = JSON.parse(readFileSync(f, "utf8"));
  } catch {
    return;
  }
  const n = folderRoot.safeParse(text);
  if (!n.success) return;
  lchownSync(folder, n.data.uid, n.data.gid);
  chmodSync(folder, n.data.mode);
}

/** `berth-agent workspace switch`: asks the daemon to switch the workspace to its followed branch. */
export function askSwitch(dir: string): void {
  writeFileSync(join(dir, "switch.request"), `${new Date().toISOString()}\n`, { mode: 0o600 });
}

/** Whether a switch was asked; the request is taken. */
export function takeSwitchRequest(dir: string): boolean {
  const f = join(dir, "switch.request");
  if (!existsSync(f)) return false;
  rmSync(f, { force: true });
  return true;
}
