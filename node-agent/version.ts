/** The agent's version, published with the node's identity. */
export const AGENT_VERSION = "0.1.0";
