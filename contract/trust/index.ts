// Trust on a running node: the signed trust set (which keys sign releases, which sign trust sets,
// which are revoked) and the signed agent bundle manifest. See contract/payload/FORMAT.md.

export * from "./agent-rollout";
export * from "./agent-status";
export * from "./bundle";
export * from "./errors";
export * from "./node-tools";
export * from "./schema";
export * from "./trust-set";
