// The one id pattern of berth: node, environment, workspace and certificate ids are 1-63
// lowercase letters, digits and dashes, starting with a letter or digit. They name servers,
// channel keys, Compose projects (`berth_<env>`: an id never holds `_`) and files on a node.
import * as z from "zod";

export const ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const ID_RULE = "use 1-63 lowercase letters, digits and dashes, starting with a letter or digit";

export function isId(s: string): boolean {
  return ID_PATTERN.test(s);
}

/** A zod string of the id pattern; `why` (e.g. "it names the server") is added to the message. */
export function idSchema(why?: string) {
  return z.string().regex(ID_PATTERN, why ? `${ID_RULE} (${why})` : ID_RULE);
}
