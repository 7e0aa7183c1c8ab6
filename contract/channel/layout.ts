// The release channel's layout: the one place that says which key holds what. The program
// writes desired releases; a node reads its own prefix and writes only its identity and status.
//
//   nodes/<node>/identity.json                          node → its sealing and status keys, MACed
//                                                       with its enrollment secret (node-identity.ts)
//   nodes/<node>/status/<env>.json                      node → how the environment's apply went,
//                                                       signed by its status key (status-signature.ts)
//   nodes/<node>/environments/<env>/releases/<seq>.json program → a signed release for that node
//   nodes/<node>/environments/<env>/desired.json        program → {"sequence": N}, written last
//   nodes/<node>/environments/<env>/withdrawal.json     program → a signed withdrawal (withdrawal.ts):
//                                                       the only thing a node tears down on
//   nodes/<node>/status/agent/state.json                node → its agent: version, trust, upgrade
//   nodes/<node>/status/access/sessions.json            node → its access sessions (who, what, when)
//   agent/trust-set.json                                program → the signed trust set (all nodes)
//   agent/berth-agent.js, .sig, .json                   program → the agent bundle, its detached
//                                                       signature (first boot), its signed manifest
//
// Releases are per node because secrets are sealed to each node's own key.

import { ID_RULE, isId } from "../ids";

export function assertId(kind: "node" | "environment", id: string): string {
  if (!isId(id)) {
    throw new Error(`${kind} id ${JSON.stringify(id)} is not valid: ${ID_RULE}`);
  }
  return id;
}

export const channelKeys = {
  identity: (node: string) => `nodes/${assertId("node", node)}/identity.json`,
  status: (node: string, env: string) =>
    `nodes/${assertId("node", node)}/status/${assertId("environment", env)}.json`,
  statusPrefix: (node: string) => `nodes/${assertId("node", node)}/status/`,
  environmentsPrefix: (node: string) => `nodes/${assertId("node", node)}/environments/`,
  release: (node: string, env: string, seq: number) =>
    `nodes/${assertId("node", node)}/environments/${assertId("environment", env)}/releases/${seq}.json`,
  agentStatus: (node: string) => `nodes/${assertId("node", node)}/status/agent/state.json`,
  accessStatus: (node: string) => `nodes/${assertId("node", node)}/status/access/sessions.json`,
  trustSet: "agent/trust-set.json",
  desired: (node: string, env: string) =>
    `nodes/${assertId("node", node)}/environments/${assertId("environment", env)}/desired.json`,
  withdrawal: (node: string, env: string) =>
    `nodes/${assertId("node", node)}/environments/${assertId("environment", env)}/withdrawal.json`,
};

/** The environment ids that have a desired.json under a node's environments prefix. */
export function environmentsFromKeys(node: string, keys: readonly string[]): string[] {
  const prefix = channelKeys.environmentsPrefix(node);
  const out = new Set<string>();
  for (const k of keys) {
    if (!k.startsWith(prefix)) continue;
    const [env, file] = k.slice(prefix.length).split("/");
    if (env && file === "desired.json" && isId(env)) out.add(env);
  }
  return [...out].sort();
}

/** The environments under a node's environments prefix that have a desired.json, and those that have a withdrawal.json. */
export function environmentObjects(
  node: string,
  keys: readonly string[],
): { desired: string[]; withdrawn: string[] } {
  const prefix = channelKeys.environmentsPrefix(node);
  const desired = new Set<string>();
  const withdrawn = new Set<string>();
  for (const k of keys) {
    if (!k.startsWith(prefix)) continue;
    const [env, file, ...rest] = k.slice(prefix.length).split("/");
    if (!env || rest.length > 0 || !isId(env)) continue;
    if (file === "desired.json") desired.add(env);
    if (file === "withdrawal.json") withdrawn.add(env);
  }
  return { desired: [...desired].sort(), withdrawn: [...withdrawn].sort() };
}
