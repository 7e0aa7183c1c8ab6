// Helpers for the tests beside the passes (not used by the loader).
import { type LoadOptions, loadCompose } from "./load";
import { formatProblem, type Problem } from "./problem";

export const FILE = "compose.yaml";

export function accept(text: string, options: LoadOptions = {}) {
  const r = loadCompose(text, { file: FILE, projectDir: "/srv/app", ...options });
  if (!r.ok)
    throw new Error(`expected the file to be accepted:\n${r.problems.map(formatProblem).join("\n")}`);
  return r;
}

export function reject(text: string, options: LoadOptions = {}): Problem[] {
  const r = loadCompose(text, { file: FILE, projectDir: "/srv/app", ...options });
  if (r.ok) throw new Error("expected the file to be rejected");
  return r.problems;
}

/** A file with one service `web` (image nginx) whose extra fields are `body` (indented by 4, from line 4). */
export function web(body: string, top = ""): string {
  const lines = body.split("\n").map((l) => (l === "" ? l : `    ${l}`));
  return `services:\n  web:\n    image: nginx\n${lines.join("\n")}\n${top}`;
}

/** The one problem at `path`; fails when there is none. */
export function at(problems: readonly Problem[], path: string): Problem {
  const p = problems.find((x) => x.path === path);
  if (!p) throw new Error(`no problem at ${path}; got:\n${problems.map(formatProblem).join("\n")}`);
  return p;
}
