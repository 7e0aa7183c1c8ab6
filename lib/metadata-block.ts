// The cloud metadata service (169.254.169.254: instance credentials, user data with the node's
// channel access) is unreachable from every container on the node: environments, workspaces and
// builds (Docker's builder and an isolated BuildKit container alike). Docker sends every
// container's forwarded traffic through the DOCKER-USER chain first, which it never rewrites,
// so one REJECT rule there covers all bridge networks, present and future. Installed by the
// agent at start (idempotent: checked, then inserted) and by cloud-init before Docker runs
// anything. Commands as data; the caller runs them.
/** A command line as data (the shape of node-agent/compose/commands.ts). */
export interface Command {
  file: string;
  args: string[];
}

export const METADATA_ADDRESS = "169.254.169.254";
export const DOCKER_USER_CHAIN = "DOCKER-USER";

const RULE = ["-d", `${METADATA_ADDRESS}/32`, "-j", "REJECT", "--reject-with", "icmp-port-unreachable"];

const iptables = (...args: string[]): Command => ({ file: "iptables", args: ["-w", "5", ...args] });

/** Exits 0 when the rule is there. */
export const checkMetadataRule = (): Command => iptables("-C", DOCKER_USER_CHAIN, ...RULE);
/** Exits 0 when the chain exists (Docker makes it; the agent may start first). */
export const checkChain = (): Command => iptables("-n", "-L", DOCKER_USER_CHAIN);
export const createChain = (): Command => iptables("-N", DOCKER_USER_CHAIN);
/** First in the chain, before any ACCEPT an operator added. */
export const insertMetadataRule = (): Command => iptables("-I", DOCKER_USER_CHAIN, "1", ...RULE);

/** The same as a shell line, for cloud-init's runcmd (before the agent's first start). */
export function metadataRuleScript(): string {
  const line = (c: Command) => [c.file, ...c.args].join(" ");
  return `${line(checkChain())} >/dev/null 2>&1 || ${line(createChain())}; ${line(checkMetadataRule())} 2>/dev/null || ${line(insertMetadataRule())}`;
}

export type Runner = (c: Command) => Promise<{ exitCode: number; stderr: string }>;

/** Installs the rule unless it is there; returns whether it was added. */
export async function blockMetadataService(run: Runner): Promise<boolean> {
  if ((await run(checkMetadataRule())).exitCode === 0) return false;
  if ((await run(checkChain())).exitCode !== 0) {
    const c = await run(createChain());
    if (c.exitCode !== 0) throw new Error(`iptables -N ${DOCKER_USER_CHAIN} failed: ${c.stderr.trim()}`);
  }
  const r = await run(insertMetadataRule());
  if (r.exitCode !== 0)
    throw new Error(
      `could not block the metadata service (iptables -I ${DOCKER_USER_CHAIN}): ${r.stderr.trim()}`,
    );
  return true;
}
