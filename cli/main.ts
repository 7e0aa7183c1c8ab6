// berth: the release contract from the command line.
import { describeError } from "../lib/errors";
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

type Command = (argv: string[], io: Io) => Promise<number>;

/**
 * Each command's module is loaded when it runs (the bundle evaluates only what the command
 * needs): `berth validate` reads the contract, never the channel, access or WebSocket code.
 */
const commands: Record<string, () => Promise<Command>> = {
  validate: async () => (await import("./commands/validate")).validate,
  render: async () => (await import("./commands/render")).render,
  keygen: async () => (await import("./commands/keygen")).keygen,
  sign: async () => (await import("./commands/sign")).sign,
  verify: async () => (await import("./commands/verify")).verify,
  "preview-summary": async () => (await import("./commands/preview-summary")).previewSummary,
  releases: async () => (await import("./commands/releases")).releases,
  rollback: async () => (await import("./commands/rollback")).rollback,
  status: async () => (await import("./commands/status")).status,
  logs: async () => (await import("./commands/app-access")).logs,
  exec: async () => (await import("./commands/app-access")).exec,
  run: async () => (await import("./commands/app-access")).run,
  workspace: async () => (await import("./commands/workspace-access")).workspace,
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
  const load = Object.hasOwn(commands, command) ? commands[command] : undefined;
  if (!load) {
    io.err(`berth: unknown command ${JSON.stringify(command)}\n${USAGE}`);
    return 2;
  }
  try {
    return await (await load())(rest, io);
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
