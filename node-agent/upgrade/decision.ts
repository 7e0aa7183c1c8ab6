// Who decides a trial: the new agent (it reported) or the watchdog (the deadline passed). The
// first to create the marker file wins, so the two never both act.
import { closeSync, mkdirSync, openSync, rmSync } from "node:fs";
import { join } from "node:path";
import { upgradeDir } from "./record";

const marker = (stateRoot: string) => join(upgradeDir(stateRoot), "trial.decided");

/** Before a trial starts: nobody has decided yet. */
export function newTrial(stateRoot: string): void {
  mkdirSync(upgradeDir(stateRoot), { recursive: true, mode: 0o700 });
  rmSync(marker(stateRoot), { force: true });
}

/** True for the first caller of a trial, false for every later one. */
export function decideTrial(stateRoot: string): boolean {
  try {
    closeSync(openSync(marker(stateRoot), "wx", 0o600));
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  }
}
