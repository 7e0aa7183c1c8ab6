// The anti-rollback floor of each environment: the highest sequence this node has accepted, in
// a release or a withdrawal. Kept in its own file under the state root (floors/<env>.json), not
// with the environment's state, so it outlives a teardown: a release older than the floor is
// refused even after the environment was withdrawn and its state removed. It only rises.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { isId } from "../../contract/ids";
import { writeFileAtomic } from "../../lib/atomic-write";

export class Floors {
  private readonly dir: string;

  constructor(stateRoot: string) {
    this.dir = join(stateRoot, "floors");
  }

  private path(env: string): string {
    if (!isId(env)) throw new Error(`not an environment id: ${JSON.stringify(env)}`);
    return join(this.dir, `${env}.json`);
  }

  /** The floor of `env`; 0 when the node never accepted anything of it. */
  get(env: string): number {
    const p = this.path(env);
    if (!existsSync(p)) return 0;
    try {
      const v = (JSON.parse(readFileSync(p, "utf8")) as { sequence?: unknown }).sequence;
      if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return v;
    } catch {
      // Unreadable: fall through to the error below.
    }
    throw new Error(
      `the anti-rollback floor ${p} is unreadable: restore it, or remove it knowing that older signed releases of ${env} then apply`,
    );
  }

  /** Raises the floor of `env` to `sequence` (never lowers it). */
  raise(env: string, sequence: number): void {
    if (sequence <= this.get(env)) return;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileAtomic(this.path(env), `${JSON.stringify({ sequence })}\n`, 0o600);
  }
}
