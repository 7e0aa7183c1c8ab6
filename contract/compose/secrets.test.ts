// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Compose interpolation syntax in test data
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { renderNodeCompose } from "../render/node-compose";
import { checkNodeCompose } from "./isolation";
import { memoryProjectFiles } from "./project-files";
import { readComposeSecretValues } from "./secret-values";
import { accept, reject } from "./testing";

const files = memoryProjectFiles({
  "db_password.txt": "s3cret-from-file\n",
  "nginx.conf": "server { listen 80; }\n",
  ".env": "API_KEY=from-dotenv\n",
});

const app = `services:
  web:
    image: nginx
    secrets:
      - db_password
      - { source: api_key, target: api.key, uid: "101", gid: "102", mode: 0440 }
      - { source: token, target: /etc/app/token }
    configs:
      - nginx
      - { source: motd, target: /etc/motd, mode: 0400 }
secrets:
  db_password: { file: ./db_password.txt }
  api_key: { environment: API_KEY }
  token: { x-berth-secret: app-token }
  unused: { file: ./db_password.txt }
configs:
  nginx: { file: ./nginx.conf }
  motd: { content: "hello \${GREETING}" }
`;

describe("Compose secrets and configs", () => {
  it("reads them into the manifest: secrets by name only, configs with their content", () => {
    const m = accept(app, { files, variables: { GREETING: "world" } }).manifest;
    expect(m.services.web?.secrets).toEqual([
      { source: "db_password", target: "/run/secrets/db_password", uid: 0, gid: 0, mode: 0o444 },
      { source: "api_key", target: "/run/secrets/api.key", uid: 101, gid: 102, mode: 0o440 },
      { source: "token", target: "/etc/app/token", uid: 0, gid: 0, mode: 0o444 },
    ]);
    expect(m.secrets).toEqual({
      db_password: { secret: "compose.db_password", file: "db_password.txt" },
      api_key: { secret: "compose.api_key", variable: "API_KEY" },
      token: { secret: "app-token" },
    });
    expect(JSON.stringify(m)).not.toContain("s3cret-from-file");
    expect(m.services.web?.configs).toEqual([
      { source: "nginx", target: "/nginx", uid: 0, gid: 0, mode: 0o444 },
      { source: "motd", target: "/etc/motd", uid: 0, gid: 0, mode: 0o400 },
    ]);
    expect(m.configs).toEqual({
      nginx: { content: "server { listen 80; }\n" },
      motd: { content: "hello world" },
    });
    expect(readComposeSecretValues(m, "/srv/app", {}, files)).toEqual({
      "compose.db_password": "s3cret-from-file\n",
      "compose.api_key": "from-dotenv",
    });
  });

  it("renders read-only binds from the agent's folder, and the node's check passes them", () => {
    const m = accept(app, { files, variables: { GREETING: "world" } }).manifest;
    const r = renderNodeCompose(m, {
      environmentId: "prod",
      sequence: 1,
      images: { web: `r.example/web@sha256:${"a".repeat(64)}` },
    });
    const doc = parse(r.text);
    expect(doc.services.web.volumes[1]).toEqual({
      type: "bind",
      source: "${BERTH_FILES_DIR:?the berth agent sets it}/secrets/web/api_key",
      target: "/run/secrets/api.key",
      read_only: true,
      bind: { create_host_path: false },
    });
    expect(r.extras.files?.map((f) => [f.kind, f.name, f.secret ?? f.content, f.uid, f.mode])).toEqual([
      ["secret", "db_password", "compose.db_password", 0, 0o444],
      ["secret", "api_key", "compose.api_key", 101, 0o440],
      ["secret", "token", "app-token", 0, 0o444],
      ["config", "nginx", "server { listen 80; }\n", 0, 0o444],
      ["config", "motd", "hello world", 0, 0o400],
    ]);
    expect(r.text).not.toContain("s3cret-from-file");
    expect(checkNodeCompose(doc, "prod")).toEqual([]);
    doc.services.web.volumes[1].source = "${BERTH_FILES_DIR:?the berth agent sets it}/secrets/other/api_key";
    doc.services.web.volumes[2].source = "/etc/shadow";
    expect(checkNodeCompose(doc, "prod")).toHaveLength(2);
  });

  it("refuses what it cannot read or place, at its location", () => {
    const ps = reject(
      `services:
  web:
    image: nginx
    secrets: [nope, { source: a, mode: rwx }]
secrets:
  a: { file: ../outside.txt }
  b: { external: true }
  c: { environment: UNSET }
  d: { file: a.txt, environment: X }
`,
      { files },
    );
    expect(ps.map((p) => `${p.path}: ${p.message}`)).toEqual([
      "services.web.secrets[0]: secret nope is not declared under top-level secrets:",
      'services.web.secrets[1].mode: mode must be a file mode like 0440, got string "rwx"',
      "secrets.a.file: the secret file ../outside.txt is outside the project folder",
      "secrets.b: a secret needs exactly one source",
      "secrets.b.external: external secrets live in a Swarm, which berth nodes do not run",
      "secrets.c.environment: variable UNSET is not set",
      "secrets.d: a secret needs exactly one source, not file and environment",
    ]);
  });
});
