// Compose interpolates `$` in every string of a file it reads, `x-` extension fields included
// (a `${X:?…}` there fails the whole file). berth's rendered file has nothing to interpolate, so
// every string it writes has its `$` written `$$`, and the agent reads `x-berth` back unescaped.

/** `$` written `$$`, so Compose's interpolation gives the string back as it was. */
export function escapeDollars(s: string): string {
  return s.replace(/\$/g, "$$$$");
}

/** What Compose would make of an escaped value: `$$` is `$`. */
export function unescapeDollars(s: string): string {
  return s.replaceAll("$$", "$");
}
