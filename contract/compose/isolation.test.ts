import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { renderNodeCompose } from "../render/node-compose";
import { checkNodeCompose } from "./isolation";
import { accept, web } from "./testing";

const DIGEST = `sha256:${"ab".repeat(32)}`;

function rendered(body: string, top = "") {
  const m = accept(web(body, top)).manifest;
  return parse(
    renderNodeCompose(m, { environmentId: "prod", sequence: 1, images: { web: `r.example/web@${DIGEST}` } })
      .text,
  );
}

describe("checkNodeCompose: the node's re-check of a rendered file", () => {
  it("passes what the renderer writes, every harmless field included", () => {
    const doc = rendered(
      "init: true\nuser: app\nread_only: true\ntmpfs: [/tmp]\ncap_drop: [ALL]\nextra_hosts: [a=10.0.0.1]\nlogging: { driver: local }\nvolumes: [data:/data]\ndeploy: { replicas: 3 }",
      "volumes:\n  data: {}\n",
    );
    expect(checkNodeCompose(doc, "prod")).toEqual([]);
    expect(doc.services.web.deploy.replicas).toBe(3);
  });

  it("refuses what a signed release must never ask for", () => {
    // biome-ignore lint/suspicious/noExplicitAny: the tests mutate a parsed document freely
    const cases: [(d: Record<string, any>) => void, RegExp][] = [
      [
        (d) => (d.services.web.privileged = true),
        /^services\.web\.privileged: privileged containers are not allowed/,
      ],
      [(d) => (d.services.web.cap_add = ["SYS_ADMIN"]), /cap_add/],
      [(d) => (d.services.web.network_mode = "host"), /network_mode: host is not allowed/],
      [(d) => (d.services.web.pid = "host"), /pid: host is not allowed/],
      [(d) => (d.services.web.volumes = [{ type: "bind", source: "/", target: "/host" }]), /no bind mounts/],
      [(d) => (d.services.web.volumes = ["/var/run/docker.sock:/s"]), /no bind mounts/],
      [(d) => (d.services.web.ports = ["0.0.0.0:22:22"]), /only 127\.0\.0\.1::PORT/],
      [(d) => (d.services.web.logging = { driver: "syslog" }), /logs stay on the node/],
      [(d) => (d.services.web.extra_hosts = ["n=host-gateway"]), /never host-gateway/],
      [(d) => (d.services.web.image = "nginx:latest"), /not pinned/],
      [(d) => (d.networks.default = { name: "berth_other", external: true }), /own networks/],
      [(d) => (d.volumes = { data: { name: "berth_other_data", external: true } }), /own volumes/],
      [(d) => (d.services.web.labels["berth.environment"] = "other"), /berth\.environment/],
      [(d) => (d.services.web.security_opt = ["seccomp=unconfined"]), /security_opt is not allowed/],
      [(d) => (d.services.web.whatever = 1), /whatever is not a field berth renders/],
      [(d) => (d.include = ["x.yaml"]), /include: not a top-level key/],
      [(d) => (d.services.web.deploy.replicas = 500), /deploy\.replicas: must be a whole number from 1 to 8/],
      [(d) => (d.services.web.deploy.placement = {}), /only resources and replicas may be set/],
    ];
    for (const [mutate, want] of cases) {
      const doc = rendered("");
      mutate(doc);
      const problems = checkNodeCompose(doc, "prod");
      expect(
        problems.some((p) => want.test(p)),
        `${want} in ${JSON.stringify(problems)}`,
      ).toBe(true);
    }
  });
});
