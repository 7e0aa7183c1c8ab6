# shellcheck shell=bash
# A watch on a test run that has stopped making progress. Sourced by scripts/test.sh.
#
# Why: once (session 11, a fresh-clone run at 3d08118) a unit file's vitest worker sat at 0% CPU
# with its main thread in a futex wait; vitest's test timeout cannot fire on a blocked thread, so
# the run would only have ended at CI's 90-minute limit, with nothing said about where it hung.
# When LOG has not grown for BERTH_TEST_STALL_MINUTES (default 20: a system file prints nothing
# while it runs, and the longest ones take ~5 minutes, ~10 at a high load), this writes the files
# started and not finished (.berth-test/running.txt, from scripts/file-times-reporter.ts) and what
# every vitest process and every process under them is doing (threads, their kernel wait channels
# and stacks, and native stacks through gdb when it is installed) to .berth-test/stall.txt, prints
# it, and stops the run, which then fails saying so.
#
# Usage: stall_watch LOG & watcher=$!; ...run...; kill "$watcher"
# Only this checkout's vitest processes (started in $BERTH_ROOT) and the processes under them are
# looked at and stopped, never another clone's run on the same machine. The command line is not
# enough to tell: in a git worktree whose node_modules links to another checkout's, the workers run
# that checkout's node_modules/vitest/dist/workers/forks.js.

own_vitest() {
  local p root
  root="$(cd "$BERTH_ROOT" && pwd -P)"
  for p in $(pgrep -f "node_modules/(\.bin/)?vitest" || true); do
    if [ "$(readlink "/proc/$p/cwd" 2>/dev/null)" = "$root" ]; then echo "$p"; fi
  done
}

# The given processes and every process under them: a worker blocked in a synchronous wait on a
# test's child (spawnSync, execFileSync) is stuck in that child, which is no vitest process.
with_descendants() {
  local p
  for p in "$@"; do
    echo "$p"
    # shellcheck disable=SC2046
    with_descendants $(pgrep -P "$p" || true)
  done
}

stall_report() {
  local pid comm pids
  # shellcheck disable=SC2046
  pids="$(with_descendants $(own_vitest) | sort -un)"
  echo "== files started and not finished (.berth-test/running.txt)"
  cat "$BERTH_ROOT/.berth-test/running.txt" 2>/dev/null || true
  echo "== processes (vitest's and their children)"
  ps -o pid,ppid,stat,pcpu,etime,args -p "$(echo "$pids" | paste -sd,)" 2>/dev/null | cut -c1-220
  for pid in $pids; do
    comm="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-160)"
    echo "== $pid: $comm"
    for t in /proc/"$pid"/task/*; do
      printf '%s %s state=%s wchan=%s\n' "${t##*/}" "$(cat "$t/comm" 2>/dev/null)" \
        "$(cut -d' ' -f3 "$t/stat" 2>/dev/null)" "$(cat "$t/wchan" 2>/dev/null)"
      # The kernel's stack of the thread (readable by root only), its first frames.
      head -4 "$t/stack" 2>/dev/null | sed 's/^/    /' || true
    done
    if have gdb; then
      timeout 60 gdb -p "$pid" -batch -ex "thread apply all bt 16" 2>/dev/null | grep -E '^(Thread|#)' || true
    fi
  done
}

stall_watch() {
  local log="$1" limit=$((${BERTH_TEST_STALL_MINUTES:-20} * 60)) size=-1 now last
  last="$(date +%s)"
  while true; do
    sleep 15
    now="$(stat -c %s "$log" 2>/dev/null || echo 0)"
    if [ "$now" != "$size" ]; then
      size="$now"
      last="$(date +%s)"
    elif [ $(($(date +%s) - last)) -ge "$limit" ]; then
      say "no test has finished for ${BERTH_TEST_STALL_MINUTES:-20} minutes: writing what the run is doing to .berth-test/stall.txt, then stopping it"
      stall_report >"$BERTH_ROOT/.berth-test/stall.txt" 2>&1
      cat "$BERTH_ROOT/.berth-test/stall.txt" >&2
      # shellcheck disable=SC2046
      kill -TERM $(with_descendants $(own_vitest)) 2>/dev/null || true
      return 0
    fi
  done
}
