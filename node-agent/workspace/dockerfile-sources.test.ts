import { describe, expect, it } from "vitest";
import { dockerfileReferences, instructions, sourceMatcher } from "./dockerfile-sources";

describe("Dockerfile references", () => {
  it("reads COPY/ADD sources: flags, JSON form, several sources, continuations", () => {
    const r = dockerfileReferences(`# syntax=docker/dockerfile:1
FROM debian:trixie AS base
COPY --chown=1000:1000 --chmod=755 a.txt b/ /dst/
COPY ["with space.txt", "c.txt", "/dst/"]
ADD --link \\
    # a comment inside the continuation
    d.tar.gz \\
    /opt/
ADD https://example.com/x.tgz /opt/
COPY ./../e.txt /e
COPY src/*.py /app/
`);
    expect(r.sources).toEqual(["a.txt", "b", "c.txt", "d.tar.gz", "e.txt", "src/*.py", "with space.txt"]);
    expect(r.remote).toEqual(["https://example.com/x.tgz"]);
    expect(r.baseImages).toEqual(["debian:trixie"]);
    expect(r.unresolved).toEqual([]);
  });

  it("skips other stages and images (--from), heredocs and ONBUILD", () => {
    const r = dockerfileReferences(`FROM golang:1 AS build
COPY go.mod ./
FROM debian
COPY --from=build /out/app /usr/bin/
COPY --from=alpine:3 /etc/x /etc/x
COPY <<EOF /etc/motd
COPY not-a-source.txt /x
EOF
RUN <<-SCRIPT
\tCOPY also-not.txt /y
\tSCRIPT
ONBUILD COPY later.txt /z
`);
    expect(r.sources).toEqual(["go.mod"]);
    expect(r.baseImages).toEqual(["alpine:3", "debian", "golang:1"]);
  });

  it("substitutes ARG defaults, build args and ENV; unknown variables take the whole context", () => {
    const df = `ARG BASE=debian
FROM \${BASE}
ARG DIR=tools
ARG EXT
ENV CONF=conf.d
COPY \${DIR}/ $CONF \${EXT:-txt}.list /x/
`;
    expect(dockerfileReferences(df).sources).toEqual(["conf.d", "tools", "txt.list"]);
    expect(dockerfileReferences(df, { DIR: "scripts", EXT: "md" }).sources).toEqual([
      "conf.d",
      "md.list",
      "scripts",
    ]);
    expect(dockerfileReferences(df, { BASE: "ubuntu" }).baseImages).toEqual(["ubuntu"]);
    const r = dockerfileReferences("FROM x\nCOPY $NOPE/a /a\n");
    expect(r.sources).toEqual(["."]);
    expect(r.unresolved[0]).toMatch(/line 2: \$NOPE has no value/);
  });

  it("reads RUN bind mounts from the context and stops at the target stage", () => {
    const r = dockerfileReferences(
      `FROM debian AS dev
RUN --mount=type=bind,source=scripts,target=/s --mount=type=cache,target=/c /s/run
RUN --mount=type=bind,from=other,source=x,target=/x true
FROM dev AS release
COPY release.txt /
`,
      {},
      "dev",
    );
    expect(r.sources).toEqual(["scripts"]);
  });

  it("honours the escape directive", () => {
    const ins = instructions("# escape=`\nFROM x\nCOPY a `\n  b /d\n");
    expect(ins.map((i) => [i.keyword, i.rest])).toEqual([
      ["FROM", "x"],
      ["COPY", "a   b /d"],
    ]);
  });

  it("matches sources against files segment by segment, folders recursively", () => {
    expect(sourceMatcher("src/*.py")("src/a.py")).toBe(true);
    expect(sourceMatcher("src/*.py")("src/sub/a.py")).toBe(false);
    expect(sourceMatcher("src")("src/sub/a.py")).toBe(true);
    expect(sourceMatcher("fil?[0-9].txt")("file1.txt")).toBe(true);
    expect(sourceMatcher("[^a]*")("abc")).toBe(false);
    expect(sourceMatcher(".")("any/thing")).toBe(true);
  });
});
