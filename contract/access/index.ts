// Interactive access: operators, their grants, and the short-lived tokens the CLI signs.
export * from "./authorize";
export * from "./protocol";
export * from "./schema";
export * from "./status";
export * from "./token";
