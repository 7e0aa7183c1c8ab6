// berth rollback ENV --to SEQ: through the program, so a rollback is an ordinary release with
// every check of one. Sets berth:environments[i].rollbackTo and runs `pulumi up`: the Release
// publishes the content of release SEQ (from the channel, its signature checked) as the next
// sequence, sealed with the current secrets, signed anew, and waits for the node's outcome.
import { run } from "../../lib/process";
import { parse, positiveInt } from "../args";
import { type Io, UsageError } from "../io";
import { stackOf } from "./stack";

export const ROLLBACK_USAGE = `usage: berth rollback ENV --to SEQ [--stack NAME]   (default: the selected Pulumi stack)

Publishes a new release of ENV whose content is that of release SEQ (berth releases ENV lists
them), by setting berth:environments[i].rollbackTo in the stack's config and running
pulumi up --yes (run it where you run pulumi, after source scripts/env.sh). The release is
signed anew with a higher sequence and applied like any other; pulumi up's output is shown as it
runs, and it fails with the node's words if the release does not apply. Remove rollbackTo (pulumi config rm --path ...) to go forward again.`;

export async function rollback(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { to: { type: "string" }, stack: { type: "string" } },
    ROLLBACK_USAGE,
  );
  if (values.help) {
    io.out(ROLLBACK_USAGE);
    return 0;
  }
  const env = positionals[0];
  if (!env) throw new UsageError(`no environment given\n${ROLLBACK_USAGE}`);
  if (typeof values.to !== "string") throw new UsageError(`--to SEQ is required\n${ROLLBACK_USAGE}`);
  const to = positiveInt(values.to, "to");
  const stack = await stackOf(values);
  const got = await run("pulumi", ["config", "get", "--stack", stack, "berth:environments"], {
    allowFailure: true,
    env: { PULUMI_SKIP_UPDATE_CHECK: "true" },
  });
  if (got.exitCode !== 0)
    throw new UsageError(`cannot read berth:environments of stack ${stack}: ${got.stderr.trim()}`);
  const envs = JSON.parse(got.stdout) as { name: string }[];
  const i = envs.findIndex((e) => e.name === env);
  if (i < 0)
    throw new UsageError(
      `stack ${stack} has no environment ${env} (environments: ${envs.map((e) => e.name).join(", ")})`,
    );
  await run("pulumi", [
    "config",
    "set",
    "--stack",
    stack,
    "--path",
    `berth:environments[${i}].rollbackTo`,
    String(to),
  ]);
  io.out(`berth:environments[${i}].rollbackTo = ${to}; running pulumi up --stack ${stack}`);
  // Streamed as it runs (an update waits for the node, minutes on a cloud), through a pipe that
  // pulumi cannot see is a terminal: colour asked for only when ours is one.
  const color = process.stdout.isTTY ? "always" : "never";
  const up = await run("pulumi", ["up", "--yes", "--skip-preview", "--stack", stack, "--color", color], {
    allowFailure: true,
    timeoutMs: 3600_000,
    env: { PULUMI_SKIP_UPDATE_CHECK: "true" },
    passThrough: true,
  });
  if (up.exitCode !== 0) {
    io.err(`berth: pulumi up --stack ${stack} failed (exit ${up.exitCode}); its output is above`);
    return 1;
  }
  return 0;
}
