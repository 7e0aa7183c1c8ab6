import { parse } from "../args";
import { type Io, UsageError } from "../io";
import { previewMarkdown } from "../preview-summary/markdown";
import { PreviewParseError, parsePreview } from "../preview-summary/parse";

export const PREVIEW_SUMMARY_USAGE = `usage: berth preview-summary [FILE|-] [--title TEXT] [--out FILE]

Reads the output of \`pulumi preview --json\` (a file, or standard input with - or no FILE) and
writes Markdown for a pull request comment: what is removed or replaced first, policy
violations, then per environment the release that would be published, image changes (short
digests), environment keys added, removed or changed (secrets by name only), volumes and routes.
Policy violations are only in the event stream: PULUMI_ENABLE_STREAMING_JSON_PREVIEW=true.
The exit code is 0 whatever the preview says (the preview's own exit code tells that).`;

export async function previewSummary(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { title: { type: "string" }, out: { type: "string" } } as const,
    PREVIEW_SUMMARY_USAGE,
  );
  if (values.help) {
    io.out(PREVIEW_SUMMARY_USAGE);
    return 0;
  }
  if (positionals.length > 1) throw new UsageError(`one preview at a time\n${PREVIEW_SUMMARY_USAGE}`);
  const file = positionals[0];
  const text = io.readFile(file === undefined || file === "-" ? "/dev/stdin" : file);
  let markdown: string;
  try {
    const title = values.title as string | undefined;
    markdown = previewMarkdown(parsePreview(text), title ? { title } : {});
  } catch (e) {
    if (e instanceof PreviewParseError) throw new UsageError(`${file ?? "stdin"}: ${e.message}`);
    throw e;
  }
  const out = values.out as string | undefined;
  if (out) io.writeFile(out, markdown);
  else io.out(markdown);
  return 0;
}
