#!/usr/bin/env bash
# exim-run.sh ROOT DIR ARGS... - run the Exim unpacked under ROOT with the
# config DIR/exim.conf. Debian's binary wants the user Debian-exim: it runs
# in a private mount namespace where /etc/passwd and /etc/group are copies
# with that user added, so the system's files are not changed.
set -euo pipefail
root=$1 dir=$2; shift 2
exec unshare -m sh -c '
  mount --bind "$1/passwd" /etc/passwd && mount --bind "$1/group" /etc/group || exit 1
  export LD_LIBRARY_PATH="$2/usr/lib/x86_64-linux-gnu"
  dir=$1 root=$2; shift 2
  exec "$root/usr/sbin/exim4" -C "$dir/exim.conf" "$@"' sh "$dir" "$root" "$@"
