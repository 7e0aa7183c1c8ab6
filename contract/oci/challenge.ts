// WWW-Authenticate parsing (RFC 7235): one header may carry several challenges, each a scheme
// and comma-separated auth-params whose values are tokens or quoted strings with `\` escapes:
//   Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull"
//   Basic realm="berth-local"

export interface AuthChallenge {
  /** Lowercased: `bearer`, `basic`, ... */
  scheme: string;
  /** Parameter names lowercased; values as sent. */
  params: Record<string, string>;
}

const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
// A token68 (RFC 7235) stands alone after a scheme, followed by the end or a comma.
const TOKEN68_RE = /([A-Za-z0-9\-._~+/]+=*)[ \t]*(?=,|$)/y;

export function parseWwwAuthenticate(header: string | null | undefined): AuthChallenge[] {
  if (!header) return [];
  const s = header;
  let i = 0;
  const out: AuthChallenge[] = [];
  const skipSpace = () => {
    while (i < s.length && (s[i] === " " || s[i] === "\t")) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < s.length && TOKEN_CHAR.test(s[i] as string)) i++;
    return s.slice(start, i);
  };
  const readQuoted = (): string => {
    // s[i] is the opening quote
    i++;
    let value = "";
    while (i < s.length && s[i] !== '"') {
      if (s[i] === "\\" && i + 1 < s.length) i++;
      value += s[i];
      i++;
    }
    i++; // closing quote (or end)
    return value;
  };

  while (i < s.length) {
    // Skip separators between challenges.
    while (i < s.length && (s[i] === "," || s[i] === " " || s[i] === "\t")) i++;
    if (i >= s.length) break;
    const scheme = readToken();
    if (scheme === "") {
      i++; // garbage: step over it rather than loop forever
      continue;
    }
    const challenge: AuthChallenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(challenge);
    skipSpace();
    // A token68 (`Negotiate abc==`) instead of params: keep it under `token68`.
    TOKEN68_RE.lastIndex = i;
    const t68 = TOKEN68_RE.exec(s);
    if (t68) {
      challenge.params.token68 = t68[1] as string;
      i = TOKEN68_RE.lastIndex;
      continue;
    }

    // auth-params
    for (;;) {
      skipSpace();
      const nameStart = i;
      const name = readToken();
      skipSpace();
      if (name === "" || s[i] !== "=") {
        // Not a param: the start of the next challenge (or the end).
        i = nameStart;
        break;
      }
      i++; // '='
      skipSpace();
      const value = s[i] === '"' ? readQuoted() : readToken();
      challenge.params[name.toLowerCase()] = value;
      skipSpace();
      if (s[i] !== ",") break;
      // After a comma: another param of this challenge, or a new challenge?
      const save = i;
      i++;
      skipSpace();
      readToken();
      skipSpace();
      const isParam = s[i] === "=";
      i = isParam ? save + 1 : save;
      if (!isParam) break;
    }
  }
  return out;
}

/** The challenge a client should answer: Bearer when offered, else Basic; undefined when neither. */
export function selectChallenge(challenges: readonly AuthChallenge[]): AuthChallenge | undefined {
  return challenges.find((c) => c.scheme === "bearer") ?? challenges.find((c) => c.scheme === "basic");
}
