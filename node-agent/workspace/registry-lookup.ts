// Which of a workspace's images the registry holds: one manifest HEAD per tag, all at once, each
// bounded in time. A registry that cannot be reached, or that refuses the credentials, is
// reported as unreachable (the plan then builds without it) with the reason.
import {
  CredentialsRefusedError,
  ImageNotFoundError,
  resolveDigest,
  TagNotFoundError,
} from "../../contract/oci";
import type { DevcontainerTags } from "./cache-key";
import { fullCacheTag, type RegistryState } from "./plan";

export interface RegistryLookup extends RegistryState {
  /** Why the registry is not used, when it is not. */
  reason?: string;
  /** Manifest digests of the tags that exist (exact, branch, defaultBranch, trustedBranch). */
  digests?: Partial<Record<keyof DevcontainerTags, string>>;
}

export function registryHost(namespace: string): string {
  return namespace.split("/")[0] ?? namespace;
}

export async function lookupTags(
  tags: DevcontainerTags,
  login: { username: string; password: string } | undefined,
  timeoutMs: number,
): Promise<RegistryLookup> {
  const host = registryHost(tags.exact);
  const credentials = login ? { [host]: login } : undefined;
  const digests: Partial<Record<keyof DevcontainerTags, string>> = {};
  const exists = async (ref: string, which: keyof DevcontainerTags): Promise<boolean> => {
    try {
      digests[which] = (
        await resolveDigest(ref, {
          ...(credentials ? { credentials } : {}),
          timeoutMs,
          retry: { retries: 1, baseMs: 200, maxMs: 500 },
        })
      ).digest;
      return true;
    } catch (e) {
      if (e instanceof TagNotFoundError || e instanceof ImageNotFoundError) return false;
      throw e;
    }
  };
  try {
    const [exactExists, branchCacheExists, defaultBranchCacheExists, trustedBranchCacheExists] =
      await Promise.all([
        exists(tags.exact, "exact"),
        exists(tags.branch, "branch"),
        exists(tags.defaultBranch, "defaultBranch"),
        tags.trustedBranch !== tags.branch
          ? exists(tags.trustedBranch, "trustedBranch")
          : Promise.resolve(false),
      ]);
    const cacheTags = [...new Set([tags.branch, tags.defaultBranch, tags.trustedBranch])];
    const fullTags: string[] = [];
    await Promise.all(
      cacheTags.map(async (t) => {
        try {
          await resolveDigest(fullCacheTag(t), {
            ...(credentials ? { credentials } : {}),
            timeoutMs,
            retry: { retries: 1, baseMs: 200, maxMs: 500 },
          });
          fullTags.push(fullCacheTag(t));
        } catch (e) {
          if (!(e instanceof TagNotFoundError || e instanceof ImageNotFoundError)) throw e;
        }
      }),
    );
    return {
      reachable: true,
      fullTags: fullTags.sort(),
      exactExists,
      branchCacheExists,
      defaultBranchCacheExists,
      trustedBranchCacheExists,
      digests,
    };
  } catch (e) {
    const reason =
      e instanceof CredentialsRefusedError
        ? `the registry ${host} refused the login (${e.problem})`
        : `the registry ${host} could not be reached (${(e as Error).message.split("\n")[0]})`;
    return {
      reachable: false,
      exactExists: false,
      branchCacheExists: false,
      defaultBranchCacheExists: false,
      reason,
    };
  }
}
