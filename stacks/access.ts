// What each environment's release and each workspace's declaration carry of berth:operators: the
// operators granted that target (others are not named to its node) and the node's command switch.
import type { AccessPolicy, Operator } from "../contract/access/schema";

const grants = (list: readonly string[], id: string) => list.includes("*") || list.includes(id);

export function environmentAccess(
  operators: readonly Operator[],
  environment: string,
  commands: boolean,
): AccessPolicy {
  return { operators: operators.filter((o) => grants(o.environments, environment)), commands };
}

export function workspaceAccess(operators: readonly Operator[], workspace: string): AccessPolicy {
  return { operators: operators.filter((o) => grants(o.workspaces, workspace)), commands: true };
}
