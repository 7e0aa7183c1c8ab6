import { ReleaseVerificationError, verifyRelease } from "../../contract/payload";
import { parse, positiveInt, required } from "../args";
import type { Io } from "../io";

export const VERIFY_USAGE = `usage: berth verify FILE --trusted-key FILE [--trusted-key FILE ...] --environment ID --node ID [--applied N]

Checks a signed release as a node would: a trusted signature, not expired, for this node and
environment, and a sequence above the applied one (--applied, default 0). Exit 0 when it would
be applied; exit 1 with the reason when a node would refuse it.`;

export async function verify(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      "trusted-key": { type: "string", multiple: true },
      environment: { type: "string" },
      node: { type: "string" },
      applied: { type: "string" },
    },
    VERIFY_USAGE,
  );
  if (values.help) {
    io.out(VERIFY_USAGE);
    return 0;
  }
  const file = positionals[0];
  if (!file) throw new (await import("../io")).UsageError(`no release file given\n${VERIFY_USAGE}`);
  const trusted = ((values["trusted-key"] as string[] | undefined) ?? []).map((f) => io.readFile(f).trim());
  if (trusted.length === 0) required(values, "trusted-key", VERIFY_USAGE);
  try {
    const r = verifyRelease(io.readFile(file), {
      trustedKeys: trusted,
      environmentId: required(values, "environment", VERIFY_USAGE),
      nodeId: required(values, "node", VERIFY_USAGE),
      appliedSequence: values.applied ? positiveInt(values.applied as string, "applied") : 0,
    });
    const p = r.payload;
    io.out(
      `ok: release ${p.sequence} of ${p.environmentId} for node ${p.nodeId}, signed by ${r.keyId}, valid until ${p.expiresAt}, ${p.secrets.length} sealed secret(s), ${p.routes.length} route(s)`,
    );
    return 0;
  } catch (e) {
    if (e instanceof ReleaseVerificationError) {
      io.err(`berth: refused (${e.code}): ${e.message}`);
      return 1;
    }
    throw e;
  }
}
