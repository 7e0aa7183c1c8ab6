// When a node counts as silent: its agent rewrites each signed status every `intervalSeconds`
// (agent config heartbeatSeconds, carried in the status), so three missed beats and a margin for
// a slow poll mean it is gone. The program's refresh and `berth status` share this rule.
export function silentAfterSeconds(intervalSeconds: number): number {
  return 3 * intervalSeconds + 5;
}
