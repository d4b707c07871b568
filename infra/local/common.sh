# Shared by infra/local/{run,poll,inbox}: paths of the local stack. Sourced, not run.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# CTGUARD_LOCAL_STATE: another state directory (the tests run stacks side by side).
state="${CTGUARD_LOCAL_STATE:-$root/.local/local-stack}"
bin_dir="${CARGO_TARGET_DIR:-$root/target}/debug"
say() { printf '%s\n' "$*" >&2; }
# How to name a state file in printed commands: relative to the current directory when under it.
shown() { local path="$state/$1"; printf '%s' "${path#"$PWD/"}"; }
die() { say "error: $*"; exit 1; }
need_stack_env() {
    [[ -f "$state/env" ]] || die "the local stack is not set up: start it with infra/local/run (make local) first"
    # shellcheck source=/dev/null
    source "$state/env"
    bin_dir="${CTGUARD_LOCAL_BIN_DIR:-$bin_dir}"
}
