// The agent's version, published with the node's identity and signed into the bundle's manifest.
// A running agent installs only a bundle of a higher version (node-agent/upgrade/). A build may
// stamp another one (`esbuild --define:BERTH_AGENT_BUILD_VERSION='"0.2.0"'`), as the upgrade
// tests do to make a newer and an older bundle of the same code.
declare const BERTH_AGENT_BUILD_VERSION: string | undefined;

export const AGENT_VERSION: string =
  typeof BERTH_AGENT_BUILD_VERSION === "string" ? BERTH_AGENT_BUILD_VERSION : "0.1.0";
