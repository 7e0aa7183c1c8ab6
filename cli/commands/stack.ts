// The Pulumi stack a command works on, and the release channel it names: --stack, else the stack
// `pulumi stack select` chose (as pulumi itself does); the channel from the stack's `channelUrl`
// output (its region from `channelRegion`), so a cloud stack needs no --channel.
import { FolderChannelStore } from "../../contract/channel/folder-store";
import { S3ChannelStore } from "../../contract/channel/s3-store";
import type { ChannelStore } from "../../contract/channel/store";
import { run } from "../../lib/process";
import { type Io, UsageError } from "../io";

const PULUMI_ENV = { PULUMI_SKIP_UPDATE_CHECK: "true" };

/** --stack, or the selected stack; a clear error when there is neither. */
export async function stackOf(values: Record<string, unknown>): Promise<string> {
  const given = values.stack as string | undefined;
  if (given) return given;
  const r = await run("pulumi", ["stack", "--show-name", "--non-interactive"], {
    allowFailure: true,
    env: PULUMI_ENV,
  }).catch(() => undefined);
  const name = r?.exitCode === 0 ? r.stdout.trim() : "";
  if (!name)
    throw new UsageError(
      "no Pulumi stack is selected: pass --stack NAME, or select one with pulumi stack select NAME (after source scripts/env.sh)",
    );
  return name;
}

/** The stack's outputs (`pulumi stack output --json`); empty when it has none yet. */
async function stackOutputs(stack: string): Promise<Record<string, unknown>> {
  const r = await run("pulumi", ["stack", "output", "--json", "--stack", stack, "--non-interactive"], {
    allowFailure: true,
    env: PULUMI_ENV,
  });
  if (r.exitCode !== 0) return {};
  try {
    return JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/** The stack's state (`pulumi stack export`: no secret in plain text); undefined when it cannot be read. */
export async function stackState(stack: string): Promise<unknown> {
  const r = await run("pulumi", ["stack", "export", "--stack", stack, "--non-interactive"], {
    allowFailure: true,
    env: PULUMI_ENV,
  });
  if (r.exitCode !== 0) return undefined;
  try {
    return JSON.parse(r.stdout) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * A channel from its address: `file:///PATH` or a folder path, or
 * `s3:https://ENDPOINT/BUCKET[/PREFIX]` (keys from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY).
 */
export function channelFromUrl(url: string, region: string | undefined, io: Io): ChannelStore {
  if (url.startsWith("file://")) return new FolderChannelStore(url.slice("file://".length));
  const m = /^s3:(https?:\/\/[^/]+)\/([a-z0-9][a-z0-9.-]+[a-z0-9])(?:\/(.*))?$/.exec(url);
  if (!m) {
    if (url.startsWith("s3:"))
      throw new UsageError(`${url}: an S3 channel is s3:https://ENDPOINT/BUCKET[/PREFIX]`);
    return new FolderChannelStore(url);
  }
  const accessKeyId = io.env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = io.env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey)
    throw new UsageError(
      "an S3 channel needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment",
    );
  return new S3ChannelStore({
    endpoint: m[1] as string,
    bucket: m[2] as string,
    prefix: (m[3] ?? "").replace(/\/+$/, ""),
    region: region ?? "auto",
    accessKeyId,
    secretAccessKey,
  });
}

/**
 * --channel; else the stack's `channelUrl` output; else the local target's folder of the stack
 * (`.berth-local/<stack>/channel`, before its first `pulumi up`).
 */
export async function channelOf(values: Record<string, unknown>, io: Io): Promise<ChannelStore> {
  const given = values.channel as string | undefined;
  const region = values.region as string | undefined;
  if (given) return channelFromUrl(given, region, io);
  const stack = await stackOf(values);
  const out = await stackOutputs(stack);
  if (typeof out.channelUrl === "string" && out.channelUrl !== "")
    return channelFromUrl(
      out.channelUrl,
      region ?? (typeof out.channelRegion === "string" ? out.channelRegion : undefined),
      io,
    );
  return new FolderChannelStore(`.berth-local/${stack}/channel`);
}
