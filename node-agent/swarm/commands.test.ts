import { describe, expect, it } from "vitest";
import * as cmd from "./commands";

describe("swarm commands as data", () => {
  it("form the swarm on the node's private address", () => {
    expect(cmd.swarmInit("10.0.0.2").args).toEqual([
      "swarm",
      "init",
      "--advertise-addr",
      "10.0.0.2",
      "--listen-addr",
      "10.0.0.2:2377",
    ]);
    expect(cmd.joinToken("worker").args).toEqual(["swarm", "join-token", "--quiet", "worker"]);
    expect(cmd.swarmJoin("T", "10.0.0.2", "10.0.0.3").args).toEqual([
      "swarm",
      "join",
      "--token",
      "T",
      "--advertise-addr",
      "10.0.0.3",
      "--listen-addr",
      "10.0.0.3:2377",
      "10.0.0.2:2377",
    ]);
    expect(cmd.rotateJoinToken("manager").args).toEqual([
      "swarm",
      "join-token",
      "--rotate",
      "--quiet",
      "manager",
    ]);
    expect(cmd.swarmLeave().args).toEqual(["swarm", "leave", "--force"]);
  });

  it("create secrets and configs from stdin, labelled with the environment", () => {
    expect(cmd.createSecret("berth_shop_tok_0123456789ab", { "berth.environment": "shop" }).args).toEqual([
      "secret",
      "create",
      "--label",
      "berth.environment=shop",
      "berth_shop_tok_0123456789ab",
      "-",
    ]);
    expect(cmd.createConfig("c", {}).args).toEqual(["config", "create", "c", "-"]);
  });

  it("deploy the stack detached, pruned, with registry auth and pinned images", () => {
    expect(cmd.stackDeploy("/run/berth/stack.json", "berth-shop").args).toEqual([
      "stack",
      "deploy",
      "--compose-file",
      "/run/berth/stack.json",
      "--with-registry-auth",
      "--prune",
      "--resolve-image",
      "never",
      "--detach=true",
      "berth-shop",
    ]);
  });
});
