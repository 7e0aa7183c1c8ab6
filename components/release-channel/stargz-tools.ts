// The lazy-pulling tools in a release channel (issue 22): one build of berth-stargz-snapshotter and
// berth-estargz per CPU architecture the stack's workspace nodes have, and their manifest signed by
// the release key, which a cloud workspace node's first-boot installer verifies
// (components/deployment-node/stargz-installer.ts). A dynamic resource; its logic is
// components/runtime/stargz-tools.ts. The build is scripts/setup/stargz.sh's:
// $BERTH_CACHE/stargz/current (berth:stargzTools names another folder).
import { createHash } from "node:crypto";
import { readFileSync, realpathSync } from "node:fs";
import { homedir } from "node:os";
import { basename, join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { ChannelSpec } from "../../contract/channel/access";
import { NODE_TOOLS, type NodeArch, nodeToolBuildPath } from "../../contract/trust/node-tools";
import { PROVIDER_RUNTIME } from "../runtime-path";

export const STARGZ_TOOLS_PROVIDER_VERSION = "1";

const runtime = PROVIDER_RUNTIME;
const provider: pulumi.dynamic.ResourceProvider = {
  check: (olds, news) => require(runtime).stargzTools.check(olds, news),
  diff: (id, olds, news) => require(runtime).stargzTools.diff(id, olds, news),
  create: (news) => require(runtime).stargzTools.create(news),
  update: (id, olds, news) => require(runtime).stargzTools.update(id, olds, news),
  delete: (id, olds) => require(runtime).stargzTools.remove(id, olds),
};

export class StargzToolsError extends Error {}

/** Where setup builds the tools: `$BERTH_CACHE/stargz/current` (scripts/lib/common.sh's BERTH_CACHE). */
export function defaultStargzToolsDir(env: NodeJS.ProcessEnv = process.env): string {
  const cache = env.BERTH_CACHE || join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "berth");
  return join(cache, "stargz", "current");
}

/** The build in `dir` (its folder's name) and each file's SHA-256, with a clear word when missing. */
export function readStargzBuild(dir: string, arches: readonly NodeArch[]) {
  let real: string;
  try {
    real = realpathSync(dir);
    readFileSync(join(real, ".complete"));
  } catch {
    throw new StargzToolsError(
      `the stargz tools for workspace nodes are not built (no complete build at ${dir}): run \`npm run setup\` (scripts/setup/stargz.sh builds them with Go)`,
    );
  }
  const build = basename(real);
  if (!/^[0-9a-f]{16}$/.test(build))
    throw new StargzToolsError(`${real} is not a build of the stargz tools (its name is not 16 hex digits)`);
  const files = arches.flatMap((arch) =>
    NODE_TOOLS.map((name) => {
      const p = nodeToolBuildPath(real, arch, name);
      let bytes: Buffer;
      try {
        bytes = readFileSync(p);
      } catch {
        throw new StargzToolsError(`the stargz tools' file ${p} is missing: run \`npm run setup\``);
      }
      return { name, arch, sha256: createHash("sha256").update(bytes).digest("hex") };
    }),
  );
  return { dir: real, build, files };
}

export interface StargzToolsArgs {
  /** The channel with the program's write credentials (the secret key stays secret). */
  channel: pulumi.Input<ChannelSpec>;
  /** The release-signing private key (secret). Nodes trust its public key. */
  signingKey: pulumi.Input<string>;
  /** The CPU architectures of the workspace nodes (each gets its files). */
  arches: readonly NodeArch[];
  /** The build's folder; default defaultStargzToolsDir(). */
  dir?: string;
}

export class StargzTools extends pulumi.dynamic.Resource {
  declare readonly build: pulumi.Output<string>;
  declare readonly manifestKey: pulumi.Output<string>;
  declare readonly keys: pulumi.Output<string[]>;
  declare readonly signedBy: pulumi.Output<string>;

  constructor(name: string, args: StargzToolsArgs, opts?: pulumi.CustomResourceOptions) {
    const b = readStargzBuild(args.dir ?? defaultStargzToolsDir(), [...new Set(args.arches)].sort());
    super(
      provider,
      name,
      {
        berthKind: "stargz-tools",
        berthProviderVersion: STARGZ_TOOLS_PROVIDER_VERSION,
        channel: pulumi.secret(args.channel),
        dir: b.dir,
        build: b.build,
        files: b.files,
        signingKey: pulumi.secret(args.signingKey),
        manifestKey: undefined,
        keys: undefined,
        previousKeys: undefined,
        signedBy: undefined,
      },
      { ...opts, additionalSecretOutputs: ["channel", "signingKey"] },
    );
  }
}
