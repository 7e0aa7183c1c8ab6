// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Compose interpolation syntax in test data
import { describe, expect, it } from "vitest";
import { memoryProjectFiles } from "./project-files";
import { accept, at, reject, web } from "./testing";

const files = memoryProjectFiles({
  ".env": "TAG=1.27\nGREETING=from-dotenv\nPORT=8080\n",
  "web.env": "A=from-web-env\nB=web\nC=${GREETING}\n",
  "extra.env": "B=extra\nRAW='as is' ${X}\n",
  "bad.env": "A=1\nno equals here\n",
});

describe("the project folder's .env", () => {
  it("supplies variables, and the stack's variables win over it", () => {
    const r = accept(
      web("environment: { G: $GREETING, P: '${PORT}' }").replace("image: nginx", "image: nginx:${TAG}"),
      {
        files,
        variables: { PORT: "9090" },
      },
    );
    expect(r.manifest.services.web?.image).toBe("nginx:1.27");
    expect(r.manifest.services.web?.environment).toEqual({
      G: { value: "from-dotenv" },
      P: { value: "9090" },
    });
  });

  it("is not read without the project folder's files, and the process environment never is", () => {
    process.env.GREETING = "leak";
    try {
      expect(at(reject(web("environment: { G: $GREETING }")), "services.web.environment.G").message).toBe(
        "variable GREETING is not set",
      );
    } finally {
      delete process.env.GREETING;
    }
  });

  it("locates its problems in .env", () => {
    const p = reject(web("environment: { A: b }"), {
      files: memoryProjectFiles({ ".env": 'A=1\nB"=2\n' }),
    })[0];
    expect(p).toMatchObject({ file: ".env", line: 2 });
  });
});

describe("env_file", () => {
  it("merges the files in order, and environment: wins", () => {
    const r = accept(
      web(
        "env_file: [web.env, { path: extra.env, format: raw }, { path: missing.env, required: false }]\nenvironment: { A: written }",
      ),
      { files },
    );
    expect(r.manifest.services.web?.environment).toEqual({
      A: { value: "written" },
      B: { value: "extra" },
      C: { value: "from-dotenv" },
      RAW: { value: "'as is' ${X}" },
    });
    expect(accept(web("env_file: web.env"), { files }).manifest.services.web?.environment.A).toEqual({
      value: "from-web-env",
    });
  });

  it("refuses a missing file, one outside the project, and locates problems inside the file", () => {
    expect(at(reject(web("env_file: nope.env"), { files }), "services.web.env_file")).toMatchObject({
      line: 4,
      message: "env_file nope.env does not exist",
    });
    expect(at(reject(web("env_file: ../secrets.env"), { files }), "services.web.env_file").message).toBe(
      "env_file ../secrets.env is outside the project folder",
    );
    const p = at(reject(web("env_file: [bad.env]"), { files }), "services.web.env_file[0]");
    expect(p).toMatchObject({ file: "bad.env", line: 2, message: "expected = after no" });
  });
});

describe("label_file", () => {
  const lf = memoryProjectFiles({
    "a.labels": "com.example.team=web\ncom.example.tier=front\n",
    "b.labels": "com.example.tier=back\n",
    "bad.labels": "berth.environment=other\n",
  });

  it("reads the files in order, and labels: wins over them", () => {
    const r = accept(web("label_file: [a.labels, b.labels]\nlabels: { com.example.team: ops }"), {
      files: lf,
    });
    expect(r.manifest.services.web?.labels).toEqual({
      "com.example.team": "ops",
      "com.example.tier": "back",
    });
  });

  it("refuses a missing file, one outside the project and berth's reserved prefix, located", () => {
    expect(
      at(reject(web("label_file: nope.labels"), { files: lf }), "services.web.label_file"),
    ).toMatchObject({
      line: 4,
      message: "label_file nope.labels does not exist",
    });
    expect(at(reject(web("label_file: ../x.labels"), { files: lf }), "services.web.label_file").message).toBe(
      "label_file ../x.labels is outside the project folder",
    );
    expect(at(reject(web("label_file: bad.labels"), { files: lf }), "services.web.label_file").message).toBe(
      "label berth.environment from a label file uses the reserved berth. prefix",
    );
  });
});
