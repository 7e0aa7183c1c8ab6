// The program's side of installing the agent from the channel ("channel" mode of cloud-init.ts)
// and of upgrading running agents: the bundle, its detached Ed25519 signature (by the release-
// signing key the nodes trust; the first-boot installer checks it) and its signed manifest (the
// version and hash a running agent checks, contract/trust/bundle.ts), as channel objects. Pure:
// whoever publishes (a dynamic resource of the ReleaseChannel) puts them.
import { sign } from "node:crypto";
import { loadSigningPrivateKey, toBase64Url } from "../../contract/payload";
import { manifestKeyOf, signAgentBundle } from "../../contract/trust/bundle";
import { DEFAULT_AGENT_BUNDLE_KEY } from "./cloud-init";

export interface ChannelObject {
  key: string;
  body: string;
}

/**
 * `[bundle, signature, manifest]` to put into the channel, in that order: a node never finds a
 * signature or a manifest before the bundle it describes (running agents watch the manifest).
 */
export function agentBundleObjects(
  bundle: string,
  signingKey: string,
  key: string = DEFAULT_AGENT_BUNDLE_KEY,
  version?: string,
): ChannelObject[] {
  const bytes = Buffer.from(bundle, "utf8");
  const signature = sign(null, bytes, loadSigningPrivateKey(signingKey));
  return [
    { key, body: bundle },
    { key: `${key}.sig`, body: `${toBase64Url(signature)}\n` },
    ...(version !== undefined
      ? [
          {
            key: manifestKeyOf(key),
            body: `${JSON.stringify(signAgentBundle(bytes, { version, key, signingKey }), null, 2)}\n`,
          },
        ]
      : []),
  ];
}
