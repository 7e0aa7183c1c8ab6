import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { IdentityError, verifyIdentity } from "../contract/channel/node-identity";
import { generateNodeKeyPair, generateSigningKeyPair } from "../contract/payload";
import { nodeIdentityText } from "./identity";

describe("nodeIdentityText", () => {
  const keys = { publicKey: generateNodeKeyPair().publicKey, statusKey: generateSigningKeyPair().publicKey };
  const secret = randomBytes(32).toString("base64url");

  it("MACs the identity with the enrollment secret, which the program verifies", () => {
    const id = verifyIdentity(nodeIdentityText("web-1", keys, secret), "web-1", secret);
    expect(id.publicKey).toBe(keys.publicKey);
  });

  it("without a secret still publishes who the node is, and the program refuses it", () => {
    const text = nodeIdentityText("web-1", keys, "");
    expect(JSON.parse(text)).toMatchObject({ nodeId: "web-1", mac: "" });
    expect(() => verifyIdentity(text, "web-1", secret)).toThrow(IdentityError);
  });
});
