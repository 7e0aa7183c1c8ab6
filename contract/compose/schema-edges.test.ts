// Edge values of each field the manifest bounds (empty names, lengths, ranges, paths): whatever
// the loader accepts is a manifest by the zod schema itself, since the loader no longer re-checks
// its output against the schema at run time (load.ts). A value it let through would show here.
import { describe, expect, it } from "vitest";
import { manifestSchema } from "../manifest/schema";
import { loadCompose } from "./load";

const long = "a".repeat(200);
const svc = (body: string, top = "") => `services:\n  web:\n    image: nginx\n${body}${top}`;
const probes: Record<string, string> = {
  longService: `services:\n  ${long}:\n    image: nginx\n`,
  longVolume: svc(`    volumes: [${long}:/d]\n`, `volumes:\n  ${long}: {}\n`),
  longNetwork: svc(`    networks: [${long}]\n`, `networks:\n  ${long}: {}\n`),
  replicas9: svc(`    deploy: {replicas: 9}\n`),
  scale9: svc(`    scale: 9\n`),
  replicas0: svc(`    deploy: {replicas: 0}\n`),
  negInterval: svc(`    healthcheck: {test: ["CMD","true"], interval: -1s}\n`),
  retriesNeg: svc(`    healthcheck: {test: ["CMD","true"], retries: -1}\n`),
  retriesFloat: svc(`    healthcheck: {test: ["CMD","true"], retries: 1.5}\n`),
  memZero: svc(`    mem_limit: 0\n`),
  cpusZero: svc(`    cpus: 0\n`),
  cpusNeg: svc(`    deploy: {resources: {limits: {cpus: "-1"}}}\n`),
  pidsFloat: svc(`    deploy: {resources: {limits: {pids: 1.5}}}\n`),
  labelBerth: svc(`    labels: {Berth.x: y}\n`),
  parallelismHuge: svc(`    deploy: {update_config: {parallelism: 10000000}}\n`),
  parallelismNeg: svc(`    deploy: {update_config: {parallelism: -1}}\n`),
  stopSignalEmpty: svc(`    stop_signal: ""\n`),
  userEmpty: svc(`    user: ""\n`),
  workdirRel: svc(`    working_dir: rel\n`),
  tmpfsRel: svc(`    tmpfs: [rel]\n`),
  ulimitFloat: svc(`    ulimits: {nofile: 1.5}\n`),
  hostnameEmpty: svc(`    hostname: ""\n`),
  dnsEmpty: svc(`    dns: [""]\n`),
  capDropEmpty: svc(`    cap_drop: [""]\n`),
  extraHostsEmpty: svc(`    extra_hosts: [""]\n`),
  groupAddEmpty: svc(`    group_add: [""]\n`),
  aliasEmpty: svc(`    networks: {default: {aliases: [""]}}\n`),
  platformEmpty: svc(`    platform: ""\n`),
  secretModeBig: svc(`    secrets: [{source: s, mode: 99999}]\n`, `secrets:\n  s: {environment: X}\n`),
  secretUidNeg: svc(`    secrets: [{source: s, uid: "-1"}]\n`, `secrets:\n  s: {environment: X}\n`),
  secretTargetRel: svc(`    secrets: [{source: s, target: rel}]\n`, `secrets:\n  s: {environment: X}\n`),
  longSecret: svc(`    environment: {A: {x-berth-secret: ${long}}}\n`),
  routeUpper: svc(``, `x-berth-routes:\n  - {service: web, port: 80, host: A.test}\n`),
  routeLongHost: svc(``, `x-berth-routes:\n  - {service: web, port: 80, host: ${"a.".repeat(130)}test}\n`),
  routePort0: svc(``, `x-berth-routes:\n  - {service: web, port: 0, host: a.test}\n`),
  routePathRel: svc(``, `x-berth-routes:\n  - {service: web, port: 80, host: a.test, path: x}\n`),
  healthStatus: svc(`    x-berth-health: {path: /h, port: 80, status: 700}\n`),
  exposeBig: svc(`    expose: [70000]\n`),
  buildDockerfileEmpty: `services:\n  web:\n    build: {context: ., dockerfile: ""}\n`,
  buildTargetEmpty: `services:\n  web:\n    build: {context: ., target: ""}\n`,
  buildCtxDotDot: `services:\n  web:\n    build: {context: ../x}\n`,
  hookEmptyCmd: svc(`    post_start: [{command: []}]\n`),
  hookUserEmpty: svc(`    post_start: [{command: [x], user: ""}]\n`),
  hookWorkdirRel: svc(`    post_start: [{command: [x], working_dir: rel}]\n`),
  imageEmpty: `services:\n  web:\n    image: ""\n`,
  volSubpathEmpty: svc(
    `    volumes: [{type: volume, source: d, target: /d, volume: {subpath: ""}}]\n`,
    `volumes:\n  d: {}\n`,
  ),
  extKey: svc(``, `x-a: 1\n`),
  configContentEmpty: svc(`    configs: [c]\n`, `configs:\n  c: {content: ""}\n`),
  restartWeird: svc(`    restart: "on-failure:x"\n`),
  stopGraceNeg: svc(`    stop_grace_period: -1s\n`),
  shmZero: svc(`    shm_size: 0\n`),
  memResNeg: svc(`    mem_reservation: 0\n`),
  dnsOptEmpty: svc(`    dns_opt: [""]\n`),
  dnsSearchEmpty: svc(`    dns_search: ""\n`),
  extraHostsStr: svc(`    extra_hosts: {"": 1.2.3.4}\n`),
  platformsEmpty: `services:\n  web:\n    build: {context: ., platforms: [""]}\n`,
  profilesEmpty: svc(`    profiles: [""]\n`),
  linksEmpty: svc(`    links: [""]\n`),
  ulimitsBad: svc(`    ulimits: {nofile: {soft: 1.5, hard: 2}}\n`),
  domainEmpty: svc(`    domainname: ""\n`),
  stopSigEmpty2: svc(`    stop_signal: ""\n`),
  hookWd: svc(`    pre_stop: [{command: [x], working_dir: ""}]\n`),
  logOpt: svc(`    logging: {driver: json-file, options: {"": x}}\n`),
  addCtxEmpty: `services:\n  web:\n    build: {context: ., additional_contexts: {"": "."}}\n`,
  dockerfileInlineEmpty: `services:\n  web:\n    build: {context: ., dockerfile_inline: ""}\n`,
  envFileBad: svc(`    env_file: [""]\n`),
};

describe("what the loader accepts at the edges of each field", () => {
  it.each(Object.entries(probes))("%s is refused with a problem, or a manifest by the schema", (_, text) => {
    const r = loadCompose(text, { file: "c.yaml", projectDir: "/p", variables: { X: "v" } });
    if (!r.ok) {
      expect(r.problems.length).toBeGreaterThan(0);
      expect(r.problems.map((p) => p.message).join("\n")).not.toMatch(/^internal/m);
      return;
    }
    expect(manifestSchema.safeParse(r.manifest).error?.issues ?? []).toEqual([]);
  });
});
