// A group's numeric id by name, read from /etc/group (Node.js has no getgrnam). The node's
// HAProxy workers run as `haproxy`; the agent's access socket is that group's.
import { readFileSync } from "node:fs";

/** The gid of `name` in the text of an /etc/group file, or undefined (pure). */
export function parseGroupId(etcGroup: string, name: string): number | undefined {
  for (const line of etcGroup.split("\n")) {
    const [group, , gid] = line.split(":");
    if (group === name && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  return undefined;
}

/** The gid of `name` on this machine; throws naming the group when there is none. */
export function groupId(name: string, file = "/etc/group"): number {
  const gid = parseGroupId(readFileSync(file, "utf8"), name);
  if (gid === undefined)
    throw new Error(`no group ${JSON.stringify(name)} in ${file} (agent config proxy.user)`);
  return gid;
}
