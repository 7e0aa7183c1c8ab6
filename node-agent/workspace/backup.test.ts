import { describe, expect, it } from "vitest";
import { backupSecrets, workspaceNodeBackup } from "./backup";

describe("a workspace's backup", () => {
  it("is the tree, the home and the agent's notes, each a series on the declared schedule", () => {
    const nb = workspaceNodeBackup(
      {
        repository: "s3:https://s3.example.com/b/workspaces/alice",
        region: "auto",
        schedule: "0 3 * * *",
        retention: { last: 3 },
        pruneSchedule: "30 4 * * *",
        checkSchedule: "0 5 * * 0",
        restoreOnFirstStart: true,
        credentials: { version: 1, alg: "x", ephemeralPublicKey: "e", nonce: "n", ciphertext: "c" } as never,
      },
      { tree: "/s/workspaces/alice/repo", home: "/docker/volumes/h/_data", meta: "/s/workspaces/alice/meta" },
    );
    expect(nb.volumes.map((v) => [v.name, v.device, v.schedule, v.stop])).toEqual([
      ["tree", "/s/workspaces/alice/repo", "0 3 * * *", []],
      ["home", "/docker/volumes/h/_data", "0 3 * * *", []],
      ["meta", "/s/workspaces/alice/meta", "0 3 * * *", []],
    ]);
    expect(nb.restoreOnFirstApply).toBe(true);
    // The shell finds each credential under the name the node backup gives it.
    const secrets = backupSecrets({ password: "p", accessKeyId: "k", secretAccessKey: "s" });
    expect(
      [nb.secrets.password, nb.secrets.accessKeyId, nb.secrets.secretAccessKey].map((n) => secrets[n]),
    ).toEqual(["p", "k", "s"]);
  });
});
