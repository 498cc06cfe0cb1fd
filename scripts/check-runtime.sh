#!/usr/bin/env bash
# Host-side checks of the runtime entry point that cannot run from inside it: the exit code is
# passed through, the checkout is at the same path, and no mount outlives the command.
set -u
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
run="$top/scripts/runtime.sh run"
fail() { echo "check-runtime: FAILED: $*" >&2; exit 1; }

$run sh -c 'exit 7'; rc=$?
[ "$rc" = 7 ] || fail "exit code 7 came back as $rc"
seen=$(cd "$top" && $run pwd) || fail "could not run pwd in the runtime"
[ "$seen" = "$top" ] || fail "checkout seen at '$seen', expected '$top'"
[ "$($run sh -c 'test -r ../shared/DESIGN.md && echo yes' 2>/dev/null)" = yes ] || [ ! -d "$top/../shared" ] \
  || fail "../shared is not visible beside the checkout"
if [ "$($top/scripts/runtime.sh mode)" = debian13-root ]; then
  grep -q " /var/cache/vre/\| ${VRE_CACHE_DIR:-/var/cache/vre}/" /proc/self/mounts && fail "a mount of the root outlived its command"
fi
echo "check-runtime: ok (mode $($top/scripts/runtime.sh mode), exit codes pass through, checkout at $top)"
