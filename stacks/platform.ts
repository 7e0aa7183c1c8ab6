// The platform a node runs, from what the stack says of it: the Compose loader checks
// `platform:` and `build.platforms` against it, and builds target it. Arm servers: Hetzner's
// CAX line, Scaleway's Ampere (AMP2-…) and older COPARM1-… types; the local node is this machine.

/** `linux/amd64` or `linux/arm64`. */
export function cloudNodePlatform(node: { provider: string; serverType: string }): string {
  const t = node.serverType.toLowerCase();
  if (node.provider === "hcloud") return t.startsWith("cax") ? "linux/arm64" : "linux/amd64";
  if (node.provider === "scaleway") return /^(amp|coparm)/.test(t) ? "linux/arm64" : "linux/amd64";
  return "linux/amd64";
}

/** The machine running the program (the local target's node). */
export function localNodePlatform(arch: string = process.arch): string {
  return arch === "arm64" ? "linux/arm64" : "linux/amd64";
}

/** The local node's CPU in Go's names (the stargz tools' architectures). */
export function localNodeArch(arch: string = process.arch): "amd64" | "arm64" {
  return localNodePlatform(arch) === "linux/arm64" ? "arm64" : "amd64";
}
