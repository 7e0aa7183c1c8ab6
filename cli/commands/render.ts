import { resolveDigest } from "../../contract/oci";
import { pinImages, UnpinnedImageError } from "../../contract/release/pin";
import { renderNodeCompose } from "../../contract/render/node-compose";
import { keyValues, parse, positiveInt, required } from "../args";
import { type Io, UsageError } from "../io";
import { composeOptions, loadManifest } from "./validate";

export const RENDER_USAGE = `usage: berth render FILE --environment ID --sequence N [options]

Prints the Compose file a node runs for this release: images pinned by digest, berth's labels,
the environment's network and volumes, routed ports on 127.0.0.1 only.

options:
  --environment ID          the environment's id (lowercase letters, digits, dashes)
  --sequence N              the release's sequence number
  --image SERVICE=REF       pin a service's image (REPOSITORY@sha256:…), e.g. one you built
  --resolve                 resolve image tags to digests through their registries
                            (credentials: BERTH_REGISTRY_CREDENTIALS='{"host":{"username":…,"password":…}}')
  --volume-root DIR         where volumes live on the node (default /mnt)
  --var NAME=VALUE          a variable for \${NAME} in the Compose file
  --project-dir DIR         the folder build contexts must stay in (default: the file's)`;

export const releaseOptions = {
  ...composeOptions,
  environment: { type: "string" },
  sequence: { type: "string" },
  image: { type: "string", multiple: true },
  resolve: { type: "boolean" },
  "volume-root": { type: "string" },
} as const;

export async function pinnedImagesFor(
  io: Io,
  manifest: Parameters<typeof pinImages>[0],
  values: Record<string, unknown>,
): Promise<Record<string, string>> {
  let credentials: Record<string, { username: string; password: string }> = {};
  const raw = io.env.BERTH_REGISTRY_CREDENTIALS;
  if (raw) {
    try {
      credentials = JSON.parse(raw);
    } catch {
      throw new UsageError(
        'BERTH_REGISTRY_CREDENTIALS is not JSON: {"HOST": {"username": "…", "password": "…"}}',
      );
    }
  }
  try {
    return await pinImages(
      manifest,
      keyValues(values.image, "image"),
      values.resolve ? async (ref) => (await resolveDigest(ref, { credentials })).pinned : undefined,
    );
  } catch (e) {
    if (e instanceof UnpinnedImageError) throw new UsageError(e.message, e.problems);
    throw e;
  }
}

export async function render(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, releaseOptions, RENDER_USAGE);
  if (values.help) {
    io.out(RENDER_USAGE);
    return 0;
  }
  const environmentId = required(values, "environment", RENDER_USAGE);
  const sequence = positiveInt(required(values, "sequence", RENDER_USAGE), "sequence");
  const manifest = loadManifest(io, positionals[0], values, RENDER_USAGE);
  const images = await pinnedImagesFor(io, manifest, values);
  const r = renderNodeCompose(manifest, {
    environmentId,
    sequence,
    images,
    ...(values["volume-root"] ? { volumeRoot: values["volume-root"] as string } : {}),
  });
  io.out(r.text);
  return 0;
}
