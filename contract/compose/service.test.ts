import { describe, expect, it } from "vitest";
import { accept, at, reject, web } from "./testing";

describe("service fields", () => {
  it("accepts image references as written", () => {
    for (const image of [
      "nginx",
      "nginx:1.27-alpine",
      "ghcr.io/acme/web:2",
      "localhost:5000/a/b",
      `nginx@sha256:${"a".repeat(64)}`,
    ]) {
      expect(accept(`services:\n  web:\n    image: ${image}\n`).manifest.services.web?.image).toBe(image);
    }
  });

  it("refuses what is not an image reference, and a service with neither image nor build", () => {
    const p = at(reject("services:\n  web:\n    image: Nginx Latest\n"), "services.web.image");
    expect(p).toMatchObject({ line: 3, col: 12, message: '"Nginx Latest" is not an image reference' });
    expect(at(reject("services:\n  web:\n    restart: always\n"), "services.web")).toMatchObject({
      line: 3,
      message: "service web has neither image: nor build:",
    });
  });

  it("accepts restart, stop_grace_period and stop_signal", () => {
    const r = accept(web('restart: "no"\nstop_grace_period: 1m\nstop_signal: SIGQUIT'));
    expect(r.manifest.services.web).toMatchObject({
      restart: "no",
      stopGracePeriodMs: 60_000,
      stopSignal: "SIGQUIT",
    });
    for (const v of ["always", "unless-stopped", "on-failure", "on-failure:3"]) {
      expect(accept(web(`restart: ${v}`)).manifest.services.web?.restart).toBe(v);
    }
  });

  it("refuses bad restart, stop_grace_period and stop_signal values", () => {
    const ps = reject(web("restart: false\nstop_grace_period: 10\nstop_signal: 'kill -9'"));
    expect(at(ps, "services.web.restart")).toMatchObject({ line: 4, hint: 'quote it: restart: "no"' });
    expect(at(ps, "services.web.stop_grace_period").message).toContain("has no unit");
    expect(at(ps, "services.web.stop_signal").message).toBe('"kill -9" is not a signal');
  });

  it("suggests the closest field for a typo", () => {
    const ps = reject(web("imgae: x\nenviroment: {}\nzzzzzzzz: 1"));
    expect(at(ps, "services.web.imgae")).toMatchObject({
      line: 4,
      col: 5,
      message: 'unknown service field "imgae"',
    });
    expect(at(ps, "services.web.imgae").hint).toBe('did you mean "image"?');
    expect(at(ps, "services.web.enviroment").hint).toBe('did you mean "environment"?');
    expect(at(ps, "services.web.zzzzzzzz").hint).toContain("accepted here: image, build");
  });

  it("ignores other x- keys on a service", () => {
    expect(accept(web("x-notes: anything")).manifest.services.web).not.toHaveProperty("x-notes");
  });
});

describe("refused service fields, each with its own message and hint", () => {
  const cases: [string, string, string, string?][] = [
    ["privileged: true", "privileged", "privileged containers are not allowed: they get root on the node"],
    ["cap_add: [NET_ADMIN]", "cap_add", "adding Linux capabilities (cap_add) is not allowed"],
    ["devices: ['/dev/sda:/dev/sda']", "devices", "host devices (devices) cannot be passed to containers"],
    [
      "network_mode: host",
      "network_mode",
      "network_mode: host is not allowed: it shares the node's network stack with the container",
    ],
    [
      "network_mode: 'container:db'",
      "network_mode",
      "network_mode: container: is not allowed: it joins another container's network namespace",
    ],
    ["network_mode: none", "network_mode", "network_mode is not supported"],
    ["pid: host", "pid", "pid: host is not allowed: it shows the node's processes to the container"],
    [
      "ipc: host",
      "ipc",
      "ipc: host is not allowed: it shares the node's IPC namespace (shared memory) with the container",
    ],
    [
      "userns_mode: host",
      "userns_mode",
      "userns_mode: host is not allowed: it turns off user-namespace remapping",
    ],
    [
      "security_opt: [seccomp:unconfined]",
      "security_opt",
      "security_opt is not allowed: it can turn off seccomp, AppArmor or SELinux confinement",
    ],
    [
      "sysctls: { net.core.somaxconn: 1024 }",
      "sysctls",
      "sysctls are not allowed: they change kernel settings",
    ],
    [
      "volumes_from: [db]",
      "volumes_from",
      "volumes_from is not supported: it shares another container's mounts",
    ],
    [
      "container_name: web1",
      "container_name",
      "container_name is not allowed: berth names containers per environment and release",
    ],
    [
      "oom_kill_disable: true",
      "oom_kill_disable",
      "oom_kill_disable is not allowed: a container that cannot be killed when out of memory starves the node",
    ],
    [
      "annotations: { a: b }",
      "annotations",
      "annotations are not supported: they are read by the node's container runtime, which berth configures",
    ],
  ];
  for (const [yaml, key, message, hint] of cases) {
    it(`${key}: ${yaml}`, () => {
      const p = at(reject(web(yaml)), `services.web.${key}`);
      expect(p).toMatchObject({ line: 4, col: 5, message });
      expect(p.hint).toBeTruthy();
      if (hint) expect(p.hint).toBe(hint);
    });
  }

  it("collects every problem, not the first only", () => {
    const ps = reject(web("privileged: true\ncap_add: [ALL]\npid: host\nvolumes: [/:/host]"));
    expect(ps.map((p) => p.path)).toEqual([
      "services.web.privileged",
      "services.web.cap_add",
      "services.web.pid",
      "services.web.volumes[0]",
    ]);
  });
});
