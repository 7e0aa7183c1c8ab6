// berth: the release contract from the command line.
import { describeError } from "../lib/errors";
import { exec, logs, run } from "./commands/app-access";
import { keygen } from "./commands/keygen";
import { previewSummary } from "./commands/preview-summary";
import { releases } from "./commands/releases";
import { render } from "./commands/render";
import { rollback } from "./commands/rollback";
import { sign } from "./commands/sign";
import { status } from "./commands/status";
import { validate } from "./commands/validate";
import { verify } from "./commands/verify";
import { workspace } from "./commands/workspace-access";
import { type Io, UsageError } from "./io";
import { version } from "./version";

export const USAGE = `usage: berth COMMAND [options]   (berth COMMAND --help for each)

commands:
  validate FILE      check a Compose file; print the validated manifest (JSON)
  render FILE        print the Compose file a node runs for a release
  keygen KIND        make a signing (Ed25519) or node (X25519) key pair
  sign FILE          validate, render, seal secrets and sign a release
  verify FILE        check a signed release as a node would
  preview-summary    Markdown for a pull request comment from pulumi preview --json
  status ENV         the node's word on an environment: its release and its backups
  releases ENV       the release history of an environment (from the release channel)
  rollback ENV       publish the content of an earlier release as a new one (--to SEQ)
  logs ENV [SERVICE] an environment's container logs (-f to follow), through the node's proxy
  exec ENV SERVICE -- CMD   a command in a running container (exit code passed through)
  run ENV SERVICE -- CMD    a one-off container of the service (a migration, say)
  workspace shell|exec|cp|port NAME   into a workspace: a terminal, commands, files, a port`;

const commands: Record<string, (argv: string[], io: Io) => Promise<number>> = {
  validate,
  render,
  keygen,
  sign,
  verify,
  "preview-summary": previewSummary,
  releases,
  rollback,
  status,
  logs,
  exec,
  run,
  workspace,
};

/** Exit codes: 0 ok, 1 failed (refused release, unreachable registry), 2 bad input or usage. */
export async function main(argv: string[], io: Io): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === "--help" || command === "-h" || command === "help") {
    io.out(USAGE);
    return command ? 0 : 2;
  }
  if (command === "--version" || command === "-V" || command === "version") {
    io.out(`berth ${version}`);
    return 0;
  }
  const run = commands[command];
  if (!run) {
    io.err(`berth: unknown command ${JSON.stringify(command)}\n${USAGE}`);
    return 2;
  }
  try {
    return await run(rest, io);
  } catch (e) {
    if (e instanceof UsageError) {
      if (e.problems) for (const line of e.problems) io.err(line);
      else io.err(`berth: ${e.message}`);
      return 2;
    }
    io.err(`berth: ${describeError(e)}`);
    return 1;
  }
}
