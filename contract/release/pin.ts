// Every service of a release runs a digest-pinned image. A service's image comes from, in
// order: an explicit pin (a build the caller pushed), the digest written in the Compose file,
// or the tag resolved to a digest through the registry.
import type { Manifest } from "../manifest/schema";

const PINNED = /@sha256:[a-f0-9]{64}$/;

export class UnpinnedImageError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join("\n"));
    this.name = "UnpinnedImageError";
  }
}

export async function pinImages(
  m: Manifest,
  explicit: Record<string, string>,
  resolve?: (ref: string) => Promise<string>,
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const problems: string[] = [];
  for (const name of Object.keys(explicit)) {
    if (!(name in m.services)) problems.push(`--image ${name}: there is no service ${name}`);
  }
  for (const [name, s] of Object.entries(m.services)) {
    const pin = explicit[name];
    if (pin !== undefined) {
      if (PINNED.test(pin)) out[name] = pin;
      else problems.push(`services.${name}: ${pin} is not pinned by digest (REPOSITORY@sha256:…)`);
    } else if (s.image && PINNED.test(s.image)) {
      out[name] = s.image;
    } else if (s.image && resolve) {
      try {
        out[name] = await resolve(s.image);
      } catch (e) {
        problems.push(`services.${name}: ${(e as Error).message}`);
      }
    } else if (s.image) {
      problems.push(
        `services.${name}: image ${s.image} is a tag; resolve it to a digest (--resolve) or pin it`,
      );
    } else {
      problems.push(
        `services.${name}: built from ${s.build?.context}; build and push it, then pin it (--image ${name}=REPOSITORY@sha256:…)`,
      );
    }
  }
  if (problems.length > 0) throw new UnpinnedImageError(problems);
  return out;
}
