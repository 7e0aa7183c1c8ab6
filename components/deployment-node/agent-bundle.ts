// The program's side of installing the agent from the channel ("channel" mode of cloud-init.ts):
// the bundle and its detached Ed25519 signature (by the release-signing key the nodes trust), as
// channel objects. Pure: whoever publishes (a dynamic resource of the ReleaseChannel) puts them.
import { sign } from "node:crypto";
import { loadSigningPrivateKey, toBase64Url } from "../../contract/payload";
import { DEFAULT_AGENT_BUNDLE_KEY } from "./cloud-init";

export interface ChannelObject {
  key: string;
  body: string;
}

/** `[bundle, signature]` to put into the channel (the signature last: the installer reads both). */
export function agentBundleObjects(
  bundle: string,
  signingKey: string,
  key: string = DEFAULT_AGENT_BUNDLE_KEY,
): ChannelObject[] {
  const signature = sign(null, Buffer.from(bundle, "utf8"), loadSigningPrivateKey(signingKey));
  return [
    { key, body: bundle },
    { key: `${key}.sig`, body: `${toBase64Url(signature)}\n` },
  ];
}
