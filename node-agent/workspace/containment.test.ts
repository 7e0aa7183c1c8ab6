import { describe, expect, it } from "vitest";
import {
  checkUntrustedConfig,
  checkUntrustedLabel,
  checkUntrustedRepository,
  describeRefusals,
} from "./containment";
import { repo } from "./test-repo";

const P = "berth-ws-w1-uabc-";
const file = ".devcontainer/devcontainer.json";
const props = (c: Record<string, unknown>) => checkUntrustedConfig(c, file, P).map((r) => r.property);

describe("the untrusted allowlist", () => {
  it("keeps what stays inside the container", () => {
    expect(
      props({
        name: "dev",
        build: { dockerfile: "Dockerfile", context: "..", args: { A: "1" }, target: "dev" },
        features: { "./tool": {} },
        remoteUser: "dev",
        containerEnv: { A: "b" },
        postCreateCommand: "make",
        customizations: { vscode: {} },
        forwardPorts: [3000],
        mounts: [
          `source=${P}cache,target=/cache,type=volume`,
          { type: "volume", source: `${P}x`, target: "/x" },
        ],
        hostRequirements: { cpus: 2 },
        initializeCommand: "echo hi",
      }),
    ).toEqual([]);
  });

  it("refuses what reaches the node, each with its reason", () => {
    const r = checkUntrustedConfig(
      {
        runArgs: ["--privileged", "-v", "/:/host"],
        privileged: true,
        capAdd: ["SYS_ADMIN"],
        securityOpt: ["seccomp=unconfined"],
        workspaceMount: "source=/,target=/w,type=bind",
        appPort: [22],
        build: { dockerfile: "D", options: ["--build-context", "host=/etc"] },
        dockerComposeFile: "compose.yaml",
        someFutureProperty: true,
      },
      file,
      P,
    );
    expect(r.map((x) => x.property)).toEqual([
      "runArgs",
      "privileged",
      "capAdd",
      "securityOpt",
      "workspaceMount",
      "appPort",
      "build",
      "dockerComposeFile",
      "someFutureProperty",
    ]);
    expect(r.every((x) => x.source === file)).toBe(true);
    expect(r.find((x) => x.property === "build")?.problem).toMatch(/options.*docker buildx build/);
    expect(r.find((x) => x.property === "someFutureProperty")?.problem).toMatch(/not on the allowlist/);
    expect(describeRefusals(r)).toMatch(/mark the workspace trusted in the stack/);
  });

  it("allows only named volumes of the workspace, with no driver options", () => {
    const bad = [
      "source=/,target=/host,type=bind",
      "source=/var/run/docker.sock,target=/var/run/docker.sock",
      "source=other-env-data,target=/d,type=volume",
      `source=${P}x,target=/x,type=volume,volume-opt=type=none,volume-opt=o=bind,volume-opt=device=/`,
      { type: "bind", source: "/", target: "/host" },
      "type=tmpfs,target=/t",
      "target=/anon,type=volume",
    ];
    for (const m of bad) expect(props({ mounts: [m] }), JSON.stringify(m)).toEqual(["mounts"]);
    expect(checkUntrustedConfig({ mounts: [bad[0]] }, file, P)[0]!.problem).toMatch(/bind mount of "\/"/);
  });

  it("reads the image label's entries: privileged from a base image or a Feature is refused, off is fine", () => {
    const label = JSON.stringify([
      {
        id: "ghcr.io/x/docker-in-docker:2",
        privileged: true,
        mounts: [{ type: "bind", source: "/", target: "/h" }],
      },
      { remoteUser: "dev", privileged: false, capAdd: [] },
      { securityOpt: ["apparmor=unconfined"] },
    ]);
    const r = checkUntrustedLabel(label, "img", P);
    expect(r.map((x) => [x.property, x.source])).toEqual([
      ["privileged", "the label devcontainer.metadata of img (entry 0, from ghcr.io/x/docker-in-docker:2)"],
      ["mounts", "the label devcontainer.metadata of img (entry 0, from ghcr.io/x/docker-in-docker:2)"],
      ["securityOpt", "the label devcontainer.metadata of img (entry 2)"],
    ]);
    expect(checkUntrustedLabel(undefined, "img", P)).toEqual([]);
    expect(checkUntrustedLabel("{nope", "img", P)[0]!.problem).toBe("is not JSON");
    expect(checkUntrustedLabel(JSON.stringify({ runArgs: ["--privileged"] }), "img", P)[0]!.property).toBe(
      "runArgs",
    );
  });

  it("checks a local Feature's metadata before the build", () => {
    const dir = repo({
      ".devcontainer/tool/devcontainer-feature.json":
        '{ "id": "tool", "version": "1", "privileged": true, // c\n }',
    });
    const r = checkUntrustedRepository(
      dir,
      { file, dir: ".devcontainer", config: { image: "x", features: { "./tool": {} } } },
      P,
    );
    expect(r).toEqual([
      {
        property: "privileged",
        source: ".devcontainer/tool/devcontainer-feature.json",
        problem: expect.any(String),
      },
    ]);
  });
});
