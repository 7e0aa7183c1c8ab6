// berth's Pulumi program. The stack's config (stacks/Pulumi.<stack>.yaml) picks the target.
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { ReleaseChannel } from "../components/release-channel/release-channel";
import { parseStackConfig, StackConfigError } from "./config";

const stack = pulumi.getStack();
const stackFile = `stacks/Pulumi.${stack}.yaml`;

function loadConfig() {
  try {
    return parseStackConfig(pulumi.runtime.allConfig(), stackFile);
  } catch (e) {
    if (e instanceof StackConfigError) throw new pulumi.RunError(e.message);
    throw e;
  }
}

const config = loadConfig();
if (config.target !== "local") {
  throw new pulumi.RunError(
    `${stackFile}: berth:target: the ${config.target} target is not built yet; use berth:target local for now`,
  );
}
const localRoot = config.localRoot ?? path.resolve(__dirname, "..", ".berth-local", stack);
const channel = new ReleaseChannel("channel", { path: path.join(localRoot, "channel") });

export const channelUrl = channel.url;
