// The stack's enrollment key: 32 random bytes made once, on the first `pulumi up`, and kept in the
// state as a secret. Each node's enrollment secret is derived from it (enrollmentSecretFor), so
// the secret is stable across runs and across signing-key rotations (a node's user data does not
// change), different per node, and says nothing about any other key. The provider imports
// nothing of the project: it only needs node:crypto.
import * as pulumi from "@pulumi/pulumi";

export const ENROLLMENT_KEY_PROVIDER_VERSION = "1";

const provider: pulumi.dynamic.ResourceProvider = {
  async create(inputs) {
    const key = (require("node:crypto") as typeof import("node:crypto"))
      .randomBytes(32)
      .toString("base64url");
    return { id: "enrollment-key", outs: { ...inputs, key } };
  },
  // Never changes: a new key would orphan every node's enrollment secret.
  async diff() {
    return { changes: false };
  },
};

export class EnrollmentKey extends pulumi.dynamic.Resource {
  /** base64url, 32 bytes (secret). */
  declare readonly key: pulumi.Output<string>;

  constructor(name: string, opts?: pulumi.CustomResourceOptions) {
    super(
      provider,
      name,
      { berthKind: "enrollment-key", berthProviderVersion: ENROLLMENT_KEY_PROVIDER_VERSION, key: undefined },
      { ...opts, additionalSecretOutputs: ["key"] },
    );
  }
}
