// The leader's side of an operator's restore on a node group (contract/swarm/restore-hold.ts): each
// pass it reads, for every environment it runs, the restore request of each node its services are
// pinned to, believes one only when it verifies against that holder's status key the membership
// pins (and is in date), and then:
// - a `stop` of a request id it has not acted on: the services pinned to that holder scaled to 0
//   (`docker service scale`, which waits for the tasks to stop), then its signed hold
//   `stopped: true` for that id;
// - the `done` of the held id, or the held request's expiry: the services scaled back to their
//   replicas, and the hold `stopped: false`; the id is finished and never acted on again.
// What it holds and has finished is kept in <stateRoot>/swarm/restore-holds.json, so a replayed
// `stop` is refused after a restart too. A request that does not verify changes nothing.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as z from "zod";
import type { ChannelStore } from "../../contract/channel/store";
import type { KeyInput } from "../../contract/payload";
import {
  type RestoreRequest,
  restoreHoldKey,
  restoreRequestKey,
  signRestoreHold,
  verifyRestoreRequest,
} from "../../contract/swarm/restore-hold";
import { writeFileAtomic } from "../../lib/atomic-write";
import { describeError } from "../../lib/errors";
import type { DockerRunner } from "../docker";
import * as cmd from "./commands";

/** A swarm environment the leader runs: what is pinned where, and each service's replicas. */
export interface LedPins {
  environmentId: string;
  sequence: number;
  stack: string;
  pins: readonly { service: string; node: string }[];
  replicas: Readonly<Record<string, number>>;
}

/** What one holder's request came to (logged when it changes; returned for tests). */
export interface HoldStep {
  group: string;
  environmentId: string;
  node: string;
  outcome: "stopped" | "resumed" | "refused";
  detail: string;
}

const entrySchema = z.object({
  held: z
    .object({ id: z.string(), services: z.array(z.string()), expiresAt: z.string(), text: z.string() })
    .optional(),
  finished: z.array(z.string()),
});
type Entry = z.infer<typeof entrySchema>;
const FINISHED_KEPT = 100;

export class RestoreHolds {
  private readonly file: string;

  constructor(stateRoot: string) {
    this.file = join(stateRoot, "swarm", "restore-holds.json");
  }

  private all(): Record<string, Entry> {
    if (!existsSync(this.file)) return {};
    try {
      return z.record(z.string(), entrySchema).parse(JSON.parse(readFileSync(this.file, "utf8")));
    } catch {
      return {};
    }
  }

  private save(all: Record<string, Entry>): void {
    mkdirSync(join(this.file, ".."), { recursive: true, mode: 0o700 });
    writeFileAtomic(this.file, `${JSON.stringify(all)}\n`);
  }

  /** One pass over the led environments' holders. */
  async keep(
    channel: ChannelStore,
    docker: DockerRunner,
    o: {
      group: string;
      statusPrivateKey: KeyInput;
      members: readonly { nodeId: string; statusKey: KeyInput }[];
      led: readonly LedPins[];
      now?: Date;
    },
  ): Promise<HoldStep[]> {
    const steps: HoldStep[] = [];
    const all = this.all();
    const now = o.now ?? new Date();
    for (const e of o.led) {
      for (const holder of [...new Set(e.pins.map((p) => p.node))].sort()) {
        const member = o.members.find((m) => m.nodeId === holder);
        if (!member) continue;
        const services = [...new Set(e.pins.filter((p) => p.node === holder).map((p) => p.service))].sort();
        const k = `${e.environmentId}/${holder}`;
        const entry: Entry = all[k] ?? { finished: [] };
        const step = (outcome: HoldStep["outcome"], detail: string) =>
          steps.push({ group: o.group, environmentId: e.environmentId, node: holder, outcome, detail });
        const text = await channel.get(restoreRequestKey(holder, e.environmentId));
        let req: RestoreRequest | undefined;
        if (text !== undefined)
          try {
            req = verifyRestoreRequest(text, {
              group: o.group,
              environmentId: e.environmentId,
              nodeId: holder,
              statusKey: member.statusKey,
              now,
            });
          } catch (err) {
            if (!entry.held) step("refused", describeError(err));
          }
        const holdKey = restoreHoldKey(o.group, e.environmentId);
        const hold = (request: string, stopped: boolean) =>
          signRestoreHold(
            {
              group: o.group,
              environmentId: e.environmentId,
              sequence: e.sequence,
              node: holder,
              request,
              services,
              stopped,
            },
            o.statusPrivateKey,
          );
        try {
          if (entry.held) {
            const held = entry.held;
            const done = req?.id === held.id && req.state === "done";
            const expired = Date.parse(held.expiresAt) <= now.getTime();
            if (!done && !expired) {
              // Still held: the hold stays in the channel as written.
              if ((await channel.get(holdKey)) !== held.text) await channel.put(holdKey, held.text);
              continue;
            }
            for (const s of held.services)
              await docker(cmd.serviceScale(`${e.stack}_${s}`, e.replicas[s] ?? 1), { timeoutMs: 300_000 });
            await channel.put(holdKey, hold(held.id, false));
            all[k] = { finished: [...entry.finished, held.id].slice(-FINISHED_KEPT) };
            step(
              "resumed",
              `${held.services.join(", ")} back to their replicas (${done ? "the restore is done" : `the request expired at ${held.expiresAt}`})`,
            );
            continue;
          }
          if (req?.state !== "stop") continue;
          if (entry.finished.includes(req.id)) {
            step("refused", `restore request ${req.id} of ${holder} was acted on already (a replay)`);
            continue;
          }
          for (const s of services)
            await docker(cmd.serviceScale(`${e.stack}_${s}`, 0), { timeoutMs: 300_000 });
          const text = hold(req.id, true);
          await channel.put(holdKey, text);
          all[k] = {
            held: { id: req.id, services, expiresAt: req.expiresAt, text },
            finished: entry.finished,
          };
          step("stopped", `${services.join(", ")} scaled to 0 for ${holder}'s restore (request ${req.id})`);
        } catch (err) {
          step("refused", describeError(err));
        } finally {
          this.save(all);
        }
      }
    }
    return steps;
  }
}
