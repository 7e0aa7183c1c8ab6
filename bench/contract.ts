// bench:contract — validate + render + sign of a 20-service Compose file, in operations per
// second on one core (this process's one thread). Baseline, measured in the same run: a plain
// `yaml.parse` of the same text, the floor of anything that reads Compose.
import { parse } from "yaml";
import {
  createReleasePayload,
  generateNodeKeyPair,
  generateSigningKeyPair,
  loadSigningPrivateKey,
  signRelease,
} from "../contract/payload";
import { buildRelease, validateCompose } from "../contract/release/build";
import { renderNodeCompose } from "../contract/render/node-compose";
import { composeWithServices } from "./fixtures";

const text = composeWithServices(20);
const signing = generateSigningKeyPair();
const signingKey = loadSigningPrivateKey(signing.privateKey);
const node = generateNodeKeyPair();
const digest = `sha256:${"0".repeat(64)}`;

function once(seq: number): number {
  const { manifest } = validateCompose({
    composeText: text,
    file: "compose.yaml",
    variables: { TAG: "2.0" },
  });
  const images = Object.fromEntries(
    Object.keys(manifest.services).map((s) => [s, `registry.example/acme/${s}@${digest}`]),
  );
  const r = buildRelease({
    manifest,
    environmentId: "prod",
    nodeId: "node-1",
    sequence: seq,
    images,
    secrets: { "api-token": "s3cr3t-value" },
    nodePublicKey: node.publicKey,
    signingKey,
  });
  return r.text.length;
}

function measure(name: string, fn: (i: number) => unknown, seconds: number): number {
  for (let i = 0; i < 50; i++) fn(i); // warm up
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  while (now < end) {
    fn(n++);
    now = process.hrtime.bigint();
  }
  const perSec = n / (Number(now - start) / 1e9);
  console.log(`${name}: ${perSec.toFixed(0)} ops/s (${n} in ${(Number(now - start) / 1e9).toFixed(2)} s)`);
  return perSec;
}

const seconds = Number(process.env.BENCH_SECONDS ?? 3);
console.log(`input: ${text.split("\n").length} lines, 20 services`);
const baseline = measure("baseline yaml.parse", () => parse(text), seconds);
const validate = measure(
  "validate",
  () => validateCompose({ composeText: text, file: "compose.yaml", variables: { TAG: "2.0" } }),
  seconds,
);
{
  const { manifest } = validateCompose({
    composeText: text,
    file: "compose.yaml",
    variables: { TAG: "2.0" },
  });
  const images = Object.fromEntries(
    Object.keys(manifest.services).map((s) => [s, `registry.example/acme/${s}@${digest}`]),
  );
  measure(
    "render alone",
    () => renderNodeCompose(manifest, { environmentId: "prod", sequence: 1, images }),
    seconds / 2,
  );
  const rendered = renderNodeCompose(manifest, { environmentId: "prod", sequence: 1, images });
  measure(
    "seal + sign alone",
    (i) =>
      signRelease(
        createReleasePayload({
          environmentId: "prod",
          nodeId: "node-1",
          sequence: i + 1,
          composeText: rendered.text,
          routes: manifest.routes,
          secrets: { "api-token": "s3cr3t-value" },
          nodePublicKey: node.publicKey,
        }),
        signingKey,
      ),
    seconds / 2,
  );
}
const full = measure("validate + render + sign", (i) => once(i + 1), seconds);
console.log(
  `validate + render + sign costs ${(baseline / full).toFixed(1)}x a plain YAML parse (validate alone ${(baseline / validate).toFixed(1)}x)`,
);
console.log(`contract: ${full.toFixed(0)} ops/s (target 500 ops/s)`);
