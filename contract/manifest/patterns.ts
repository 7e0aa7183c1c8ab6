// The manifest's plain constants: its format version, the name patterns and bounds the schema
// (schema.ts) is built from. Apart from the schema, so the Compose loader reads them without
// building the zod schema (a `berth validate` process never needs it: the loader is checked
// against it by the tests, contract/compose/property.test.ts).

export const MANIFEST_FORMAT_VERSION = 1;

/** Compose service, volume and network names. */
export const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Secret names referenced with `{ x-berth-secret: NAME }`. */
export const SECRET_NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

/** A lowercase host name; a leading `*.` label is a wildcard. */
export const HOSTNAME_PATTERN =
  /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/**
 * The most containers of one service on a node: a start-first upgrade runs the old and the new
 * ones side by side, each a server of HAProxy's backend (16 server slots at most).
 */
export const MAX_REPLICAS = 8;
