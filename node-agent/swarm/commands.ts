// Every Docker call a swarm node's agent makes, built as data (file + args) by pure functions,
// tested without running them and run by the agent's one Docker runner (node-agent/docker.ts).
// Values that are secret (a join token, a secret's value) never appear in args: they go on stdin
// or in the environment the runner redacts.
import { NODE_LABEL } from "../../contract/swarm/names";
import type { Command } from "../compose/commands";

const docker = (...args: string[]): Command => ({ file: "docker", args });

/** The first manager: a new swarm, advertised on the node's private address. */
export function swarmInit(advertiseAddr: string): Command {
  return docker("swarm", "init", "--advertise-addr", advertiseAddr, "--listen-addr", `${advertiseAddr}:2377`);
}

/** The join token of a role, printed alone (`--quiet`). */
export function joinToken(role: "manager" | "worker"): Command {
  return docker("swarm", "join-token", "--quiet", role);
}

/**
 * A new join token for a role (`--rotate`): the old one stops working at once; nodes already in
 * the swarm are unaffected. The leader rotates after removing a node and on a schedule.
 */
export function rotateJoinToken(role: "manager" | "worker"): Command {
  return docker("swarm", "join-token", "--rotate", "--quiet", role);
}

/** This engine leaves its swarm (`--force`: a manager too): the program took the node out. */
export function swarmLeave(): Command {
  return docker("swarm", "leave", "--force");
}

/**
 * Join a swarm. The token is a credential: `docker swarm join` takes it only as an argument, so
 * the runner must redact it (it is passed in `redact`) and the agent never logs the command.
 */
export function swarmJoin(token: string, managerAddr: string, advertiseAddr: string): Command {
  return docker(
    "swarm",
    "join",
    "--token",
    token,
    "--advertise-addr",
    advertiseAddr,
    "--listen-addr",
    `${advertiseAddr}:2377`,
    `${managerAddr}:2377`,
  );
}

/** Label a node with its berth id (placement constraints select on it). */
export function labelNode(nodeRef: string, label: string, value: string): Command {
  return docker("node", "update", "--label-add", `${label}=${value}`, nodeRef);
}

/** The swarm's nodes, one a line (members.ts: NODE_ROW_FORMAT, parseNodeRows). Managers only. */
export function nodeList(format: string): Command {
  return docker("node", "ls", "--format", format);
}

export function nodePromote(nodeRef: string): Command {
  return docker("node", "promote", nodeRef);
}

export function nodeDemote(nodeRef: string): Command {
  return docker("node", "demote", nodeRef);
}

/** Takes a node out of the swarm, down or not (`--force`). */
export function nodeRemove(nodeRef: string): Command {
  return docker("node", "rm", "--force", nodeRef);
}

/** A swarm secret from stdin (`-`): the value never touches the node's disk or the process list. */
export function createSecret(name: string, labels: Record<string, string>): Command {
  return docker("secret", "create", ...labelArgs(labels), name, "-");
}

export function createConfig(name: string, labels: Record<string, string>): Command {
  return docker("config", "create", ...labelArgs(labels), name, "-");
}

/** Names of the secrets (or configs) that carry a label, one a line. */
export function listObjects(kind: "secret" | "config", label: string): Command {
  return docker(kind, "ls", "--filter", `label=${label}`, "--format", "{{.Name}}");
}

export function removeObjects(kind: "secret" | "config", names: readonly string[]): Command {
  return docker(kind, "rm", ...names);
}

function labelArgs(labels: Record<string, string>): string[] {
  return Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .flatMap(([k, v]) => ["--label", `${k}=${v}`]);
}

/**
 * Deploy the stack. `--detach` returns at once (convergence is checked through the API, with
 * the failing service and node); `--prune` removes services the release dropped; images are
 * pinned by digest, so there is nothing to resolve; registry credentials go to the nodes that pull.
 */
export function stackDeploy(file: string, stack: string): Command {
  return docker(
    "stack",
    "deploy",
    "--compose-file",
    file,
    "--with-registry-auth",
    "--prune",
    "--resolve-image",
    "never",
    "--detach=true",
    stack,
  );
}

/** Remove an environment's stack (a signed withdrawal): its services and networks; volumes stay. */
export function stackRemove(stack: string): Command {
  return docker("stack", "rm", stack);
}

/** The stack's services and tasks as the Engine API returns them (JSON, one object a line). */
export function stackServices(stack: string): Command {
  return docker(
    "service",
    "ls",
    "--filter",
    `label=com.docker.stack.namespace=${stack}`,
    "--format",
    "{{.ID}}",
  );
}

export function inspect(kind: "service" | "node", refs: readonly string[]): Command {
  return docker(kind, "inspect", ...refs);
}

/** Every task of the stack, as IDs (then inspected: `docker inspect` gives the API's task objects). */
export function stackTasks(stack: string): Command {
  return docker("stack", "ps", "--no-trunc", "--format", "{{.ID}}", stack);
}

export function inspectObjects(refs: readonly string[]): Command {
  return docker("inspect", "--type", "task", ...refs);
}

/** Where this engine keeps a volume's data (`{{.Mountpoint}}`); exits non-zero when there is none. */
export function volumeMountpoint(volume: string): Command {
  return docker("volume", "inspect", "--format", "{{.Mountpoint}}", volume);
}

/** A service scaled to `replicas`, waiting until its tasks have converged (a restore's hold). */
export function serviceScale(service: string, replicas: number): Command {
  return docker("service", "scale", "--detach=false", `${service}=${replicas}`);
}

/** The status (`Ready`, `Down`, …) of each swarm node labelled as member `nodeId`, one a line. */
export function memberStatus(nodeId: string): Command {
  return docker("node", "ls", "--filter", `node.label=${NODE_LABEL}=${nodeId}`, "--format", "{{.Status}}");
}

/** A volume's driver options as JSON (`null` for none): a bound volume names its folder. */
export function volumeOptions(volume: string): Command {
  return docker("volume", "inspect", "--format", "{{json .Options}}", volume);
}

/**
 * A local volume on this engine, created before a task mounts it (a replaced holder restores
 * into it before it joins the swarm). The stack's own labels, so Swarm's task finds it as its own.
 */
export function volumeCreate(volume: string, labels: Record<string, string>): Command {
  return docker(
    "volume",
    "create",
    ...Object.entries(labels).flatMap(([k, v]) => ["--label", `${k}=${v}`]),
    volume,
  );
}
