import * as path from "node:path";

/**
 * The bundle the dynamic providers run (scripts/build.sh makes it from components/runtime). An
 * absolute path, captured by the providers' methods as a plain string.
 */
export const PROVIDER_RUNTIME = path.resolve(__dirname, "..", "dist", "provider-runtime.js");
/** The agent bundle a local node runs and cloud-init installs. */
export const AGENT_BUNDLE = path.resolve(__dirname, "..", "dist", "berth-agent.js");
