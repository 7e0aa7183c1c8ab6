// What runs inside Pulumi's dynamic-provider process. The provider objects in components/ only
// `require` this bundle (dist/provider-runtime.js, built by scripts/build.sh) and call into it, so
// no project module has to be serialized with a provider's methods.
export * as agentBundle from "./agent-bundle";
export * as agentRollout from "./agent-rollout";
export * as imageBuild from "./image-build";
export * as localNode from "./local-node";
export * as nodeIdentity from "./node-identity";
export * as originKey from "./origin-key";
export * as providers from "./providers";
export * as release from "./release";
export * as stargzTools from "./stargz-tools";
export * as swarmMembership from "./swarm-membership";
export * as trustSet from "./trust-set";
export * as workspace from "./workspace";
