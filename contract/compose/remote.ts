// What counts as a remote reference (URL, git) in build contexts, extends and include.

/** `https://…`, `git@host:…`, `oci://…`, `remote:…`, `github.com/…`: anything that is not a local path. */
export function isRemote(s: string): boolean {
  if (/^[A-Za-z]:[\\/]/.test(s)) return false; // a Windows drive letter
  if (/^[A-Za-z][A-Za-z0-9+.-]+:/.test(s)) return true;
  if (/^git@/.test(s)) return true;
  if (/^(github\.com|gitlab\.com|bitbucket\.org)\//.test(s)) return true;
  return false;
}

export function mentionsDockerSocket(s: string): boolean {
  return /docker\.sock/i.test(s);
}
