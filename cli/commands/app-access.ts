// berth logs / run / exec: into a deployment's running apps, through the node's access endpoint
// (an operator's signed token per request; cli/access/client.ts).

import {
  ACCESS_OPTIONS,
  ACCESS_OPTIONS_USAGE,
  AccessRefused,
  accessUrl,
  openSession,
  operatorFrom,
  pumpStdin,
} from "../access/client";
import { parse } from "../args";
import { type Io, UsageError } from "../io";

export const LOGS_USAGE = `usage: berth logs ENV [SERVICE] [-f] [--since D] [--tail N] [access options]

Prints the logs of environment ENV's containers (or one service's), across its releases and
replicas, each line prefixed with SERVICE.REPLICA rRELEASE. -f follows them, new releases'
containers included, until interrupted. --since takes a duration (10m, 2h) or an RFC 3339 time.

${ACCESS_OPTIONS_USAGE}`;

export const EXEC_USAGE = `usage: berth exec ENV SERVICE [access options] -- COMMAND [ARG...]

Runs COMMAND in a running container of SERVICE in environment ENV and exits with its exit code.
Standard input is passed through. Commands are off on deployment nodes unless the stack turns
them on for the node.

${ACCESS_OPTIONS_USAGE}`;

export const RUN_USAGE = `usage: berth run ENV SERVICE [access options] -- COMMAND [ARG...]

Runs COMMAND in a one-off container of SERVICE (the running release's image, environment,
secrets, networks and volumes; a migration, say), streams its output and exits with its exit
code. Commands are off on deployment nodes unless the stack turns them on for the node.

${ACCESS_OPTIONS_USAGE}`;

/** Splits `A B -- C D` into the options part and the command. */
export function splitCommand(argv: string[]): [string[], string[]] {
  const i = argv.indexOf("--");
  return i < 0 ? [argv, []] : [argv.slice(0, i), argv.slice(i + 1)];
}

async function session(
  io: Io,
  values: Record<string, unknown>,
  target: { kind: "environment" | "workspace"; id: string },
  action: "logs" | "run" | "exec",
  request: Record<string, unknown>,
  withStdin: boolean,
): Promise<number> {
  const operator = operatorFrom(values, io.env, io.readFile);
  const streams = io.streams ?? { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin };
  try {
    const s = await openSession(
      {
        url: accessUrl(values, io.env),
        operator,
        ...(values.node ? { node: values.node as string } : {}),
        target,
        action,
        request,
      },
      streams,
    );
    if (withStdin && streams.stdin) void pumpStdin(s, streams.stdin).catch(() => s.eof());
    else s.eof();
    let interrupted = false;
    const stop = () => {
      interrupted = true;
      s.ws.close();
    };
    process.once("SIGINT", stop);
    try {
      return await s.done;
    } catch (e) {
      // Interrupted (^C on `logs -f`): the node stops the session's commands with the connection.
      if (interrupted) return 130;
      throw e;
    } finally {
      process.off("SIGINT", stop);
      // Standard input may still be open (a terminal, an idle pipe): it must not keep berth alive.
      if (streams.stdin === process.stdin) process.stdin.destroy();
    }
  } catch (e) {
    if (e instanceof AccessRefused) {
      io.err(`berth: ${action} ${target.id}: ${e.message}`);
      return e.status === 400 ? 2 : 1;
    }
    throw e;
  }
}

export async function logs(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      ...ACCESS_OPTIONS,
      follow: { type: "boolean", short: "f" },
      since: { type: "string" },
      tail: { type: "string" },
    },
    LOGS_USAGE,
  );
  if (values.help) {
    io.out(LOGS_USAGE);
    return 0;
  }
  const [env, service, extra] = positionals;
  if (!env || extra) throw new UsageError(`name one environment and at most one service\n${LOGS_USAGE}`);
  const tail = values.tail === undefined ? undefined : Number(values.tail);
  if (tail !== undefined && !(Number.isInteger(tail) && tail >= 0))
    throw new UsageError(`--tail ${values.tail}: a number of lines`);
  return await session(
    io,
    values,
    { kind: "environment", id: env },
    "logs",
    {
      ...(service ? { service } : {}),
      follow: values.follow === true,
      ...(values.since ? { since: values.since } : {}),
      ...(tail !== undefined ? { tail } : {}),
    },
    false,
  );
}

function commandOf(kind: "run" | "exec", usage: string) {
  return async (argv: string[], io: Io): Promise<number> => {
    const [opts, command] = splitCommand(argv);
    const { values, positionals } = parse(opts, { ...ACCESS_OPTIONS }, usage);
    if (values.help) {
      io.out(usage);
      return 0;
    }
    const [env, service, extra] = positionals;
    if (!env || !service || extra) throw new UsageError(`name the environment and the service\n${usage}`);
    if (command.length === 0) throw new UsageError(`give the command after --\n${usage}`);
    return await session(io, values, { kind: "environment", id: env }, kind, { service, command }, true);
  };
}

export const exec = commandOf("exec", EXEC_USAGE);
export const run = commandOf("run", RUN_USAGE);
