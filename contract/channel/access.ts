// How a program, a node or the CLI reaches a release channel: a folder, or an S3-compatible
// bucket with a key pair. Declared once here; the agent's config, the cloud-init renderer, the
// dynamic providers and the S3 store take their types from it.
import * as z from "zod";

/** Where a bucket channel lives. */
export const s3Location = z.object({
  /** e.g. https://<account>.r2.cloudflarestorage.com, https://s3.fr-par.scw.cloud */
  endpoint: z.string().url(),
  bucket: z.string().min(1),
  /** R2 takes "auto"; Scaleway the region of the bucket (fr-par, nl-ams, pl-waw). */
  region: z.string().default("auto"),
  /** Keys live under this prefix ("" or a path). */
  prefix: z.string().default(""),
});

/** A bucket channel and the key pair that opens it. */
export const s3ChannelAccess = s3Location
  .extend({ accessKeyId: z.string().min(1), secretAccessKey: z.string().min(1) })
  .strict();
export type S3ChannelAccess = z.output<typeof s3ChannelAccess>;

export const folderChannel = z.object({ kind: z.literal("folder"), path: z.string().min(1) }).strict();

/** What the program's dynamic resources publish with (a Pulumi secret: it holds the key). */
export const channelSpec = z.discriminatedUnion("kind", [
  folderChannel,
  s3ChannelAccess.extend({ kind: z.literal("s3") }).strict(),
]);
export type ChannelSpec = z.output<typeof channelSpec>;
