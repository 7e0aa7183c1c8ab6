import { describe, expect, it } from "vitest";
import { accept, at, reject, web } from "./testing";

describe("harmless runtime fields", () => {
  it("passes them through with Compose's meaning", () => {
    const s = accept(
      web(
        [
          "init: true",
          'user: "1000:1000"',
          "working_dir: /app",
          "read_only: true",
          "tmpfs: [/tmp, /run:size=64m]",
          "shm_size: 128m",
          "ulimits: { nproc: 65535, nofile: { soft: 20000, hard: 40000 } }",
          "cap_drop: [ALL]",
          "stdin_open: true",
          "tty: true",
          "hostname: web-1",
          "domainname: example.internal",
          'extra_hosts: ["db.internal:10.0.0.5", "v6.internal=::1"]',
          "dns: 1.1.1.1",
          "dns_search: [example.internal]",
          "dns_opt: [use-vc]",
          "group_add: [audio, 1001]",
          "stop_signal: SIGINT",
          "logging: { driver: local, options: { max-size: 5m, max-file: '4' } }",
        ].join("\n"),
      ),
    ).manifest.services.web;
    expect(s).toMatchObject({
      init: true,
      user: "1000:1000",
      workingDir: "/app",
      readOnly: true,
      tmpfs: ["/tmp", "/run:size=64m"],
      shmSizeBytes: 128 * 1024 * 1024,
      ulimits: { nproc: { soft: 65535, hard: 65535 }, nofile: { soft: 20000, hard: 40000 } },
      capDrop: ["ALL"],
      stdinOpen: true,
      tty: true,
      hostname: "web-1",
      domainname: "example.internal",
      extraHosts: ["db.internal=10.0.0.5", "v6.internal=::1"],
      dns: ["1.1.1.1"],
      dnsSearch: ["example.internal"],
      dnsOpt: ["use-vc"],
      groupAdd: ["audio", "1001"],
      stopSignal: "SIGINT",
      logging: { driver: "local", options: { "max-size": "5m", "max-file": "4" } },
    });
  });

  it("maps the legacy resource keys to deploy.resources, as Compose does", () => {
    const s = accept(web("mem_limit: 256m\nmem_reservation: 64m\ncpus: 0.5\npids_limit: 100")).manifest
      .services.web;
    expect(s?.resources).toEqual({
      limits: { memory: 256 * 1024 * 1024, cpus: 0.5, pids: 100 },
      reservations: { memory: 64 * 1024 * 1024 },
    });
    const same = accept(web("mem_limit: 1g\ndeploy: { resources: { limits: { memory: 1024m } } }"));
    expect(same.manifest.services.web?.resources.limits?.memory).toBe(1024 ** 3);
    expect(
      at(reject(web("cpus: 1\ndeploy: { resources: { limits: { cpus: 2 } } }")), "services.web.cpus").message,
    ).toBe("cpus (1) and deploy.resources.limits.cpus (2) disagree");
  });

  it("takes pull_policy as a note, not an error", () => {
    const r = accept(web("pull_policy: always"));
    expect(r.warnings.map((w) => w.message)).toContain(
      "pull_policy always is a note only: berth pins every image to a digest at preview, and the node pulls exactly that",
    );
    expect(at(reject(web("pull_policy: sometimes")), "services.web.pull_policy").line).toBe(4);
  });

  it("accepts platform and build.platforms only for the node's platform", () => {
    expect(accept(web("platform: linux/amd64")).manifest.services.web?.platform).toBe("linux/amd64");
    expect(
      accept(web("platform: linux/aarch64"), { platform: "linux/arm64" }).manifest.services.web?.platform,
    ).toBe("linux/aarch64");
    const p = at(reject(web("platform: linux/arm64")), "services.web.platform");
    expect(p.message).toBe(
      "platform linux/arm64 is not the node's (linux/amd64): the node cannot run it without emulation",
    );
    expect(p.hint).toMatch(/place the environment on a node of that architecture/);
    const b = "services:\n  web:\n    build: { context: ., platforms: [linux/arm64] }\n";
    expect(accept(b, { platform: "linux/arm64" }).manifest.services.web?.build?.platforms).toEqual([
      "linux/arm64",
    ]);
    expect(at(reject(b), "services.web.build.platforms").line).toBe(3);
  });

  it("refuses what would reach the node, naming why and what to do instead", () => {
    const host = at(reject(web("extra_hosts: ['node:host-gateway']")), "services.web.extra_hosts[0]");
    expect(host.message).toMatch(/points the container at the node itself/);
    expect(host.hint).toMatch(/service of this environment/);
    const log = at(reject(web("logging: { driver: syslog }")), "services.web.logging.driver");
    expect(log.message).toMatch(/sends the container's logs off the node/);
    expect(log.hint).toMatch(/json-file or local/);
    expect(
      at(reject(web("logging: { options: { max-size: 2g } }")), "services.web.logging.options").message,
    ).toMatch(/bound is 1073741824/);
    for (const [field, why] of [
      ["provider: { type: awesomecloud }", /tool on the deploying machine/],
      ["oom_score_adj: -500", /other environments' containers first/],
      ["cgroup_parent: x", /out of the limits/],
    ] as const) {
      const key = field.split(":")[0] as string;
      const p = at(reject(web(field)), `services.web.${key}`);
      expect(p.message).toMatch(why);
      expect(p.hint).toBeTruthy();
    }
    const m = at(
      reject("services:\n  web:\n    image: nginx\nmodels:\n  llm: { model: ai/smollm2 }\n"),
      "models",
    );
    expect(m.message).toMatch(/model runner on the deploying machine/);
  });

  it("refuses malformed values at their place", () => {
    const ps = reject(
      web(
        "working_dir: app\nulimits: { nofile: { soft: 2, hard: 1 }, bogus: 1 }\ncap_drop: [net raw]\nhostname: 'a b'\ndns: [resolver]\nuser: 'a b'\ntmpfs: tmp",
      ),
    );
    expect(ps.map((p) => p.path).sort()).toEqual(
      [
        "services.web.cap_drop",
        "services.web.dns",
        "services.web.hostname",
        "services.web.tmpfs",
        "services.web.ulimits.bogus",
        "services.web.ulimits.nofile",
        "services.web.user",
        "services.web.working_dir",
      ].sort(),
    );
  });
});
