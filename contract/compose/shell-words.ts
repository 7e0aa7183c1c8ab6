// Splitting a string `command:` / `entrypoint:` into words, as Compose does (it uses a shell-words
// parser, not a shell): POSIX quoting and backslash escapes, no variable expansion, no globbing.
//
// Like Compose's parser (go-shellwords without backquote parsing), a `$(...)` and a backquoted
// `...` are kept literally as part of a word, spaces and all (`echo $(date)` is the two words
// `echo` and `$(date)`); a `(` that does not follow a `$` and an unbalanced `)` are refused, as
// Compose refuses them.
//
// Decision: where Compose's parser silently stops at an unquoted shell operator (`;`, `&`, `|`,
// `<`, `>`) and drops the rest of the line, berth refuses the string and says to use
// `["sh", "-c", "..."]`: a command that runs only half of what is written is worse than an error.

export type SplitResult = { ok: true; words: string[] } | { ok: false; message: string; hint: string };

const OPERATORS = new Set([";", "&", "|", "<", ">"]);
const DQ_ESCAPABLE = new Set(["$", "`", '"', "\\", "\n"]);

export function splitShellWords(s: string): SplitResult {
  const words: string[] = [];
  let cur = "";
  let inWord = false;
  /** Inside `...` or $(...): kept literally, whitespace and operators included. */
  let backQuote = false;
  let dollarQuote = false;
  let i = 0;
  while (i < s.length) {
    const c = s[i] as string;
    if (c === "`" && !dollarQuote) {
      backQuote = !backQuote;
      cur += c;
      inWord = true;
      i++;
      continue;
    }
    if (c === "(" && !backQuote) {
      if (dollarQuote || !cur.endsWith("$"))
        return {
          ok: false,
          message: 'the command has an unquoted "(": Compose refuses it',
          hint: 'quote it, or run a shell explicitly: ["sh", "-c", "..."]',
        };
      dollarQuote = true;
      cur += c;
      i++;
      continue;
    }
    if (c === ")" && !backQuote) {
      if (!dollarQuote)
        return {
          ok: false,
          message: 'the command has an unquoted ")" with no "$(" before it: Compose refuses it',
          hint: 'quote it, or run a shell explicitly: ["sh", "-c", "..."]',
        };
      dollarQuote = false;
      cur += c;
      i++;
      continue;
    }
    if (backQuote || dollarQuote) {
      cur += c;
      i++;
      continue;
    }
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      if (inWord) words.push(cur);
      cur = "";
      inWord = false;
      i++;
      continue;
    }
    if (c === "\\") {
      const n = s[i + 1];
      if (n === undefined) {
        cur += "\\";
        inWord = true;
        i++;
        continue;
      }
      if (n !== "\n") {
        cur += n;
        inWord = true;
      }
      i += 2;
      continue;
    }
    if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) return unterminated("'");
      cur += s.slice(i + 1, end);
      inWord = true;
      i = end + 1;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      let closed = false;
      while (j < s.length) {
        const d = s[j] as string;
        if (d === '"') {
          closed = true;
          break;
        }
        if (d === "\\" && j + 1 < s.length && DQ_ESCAPABLE.has(s[j + 1] as string)) {
          if (s[j + 1] !== "\n") cur += s[j + 1];
          j += 2;
          continue;
        }
        cur += d;
        j++;
      }
      if (!closed) return unterminated('"');
      inWord = true;
      i = j + 1;
      continue;
    }
    if (OPERATORS.has(c)) {
      return {
        ok: false,
        message: `the command has an unquoted shell operator ${JSON.stringify(c)}: Compose does not run a shell, and would cut the command there`,
        hint: 'run a shell explicitly: ["sh", "-c", "..."], or quote the character',
      };
    }
    cur += c;
    inWord = true;
    i++;
  }
  if (backQuote) return unterminated("`");
  if (dollarQuote) return unterminated("$(");
  if (inWord) words.push(cur);
  return { ok: true, words };
}

function unterminated(q: string): SplitResult {
  return {
    ok: false,
    message: `the command has an unterminated ${q}${q === "$(" ? " (no closing parenthesis)" : " quote"}`,
    hint: "close the quote, or write the command as a list of words",
  };
}
