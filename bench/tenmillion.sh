#!/bin/sh
# Fills one queue in steps (1M, 5M, 10M deferred single-recipient messages
# with 1 KiB bodies by default) and at each step measures the daemon
# (bench/scale: start to first attempt, RSS, queue ls | head) and the
# console pages (bench/console), at low priority. Issue 21 goal 4.
#
#	sh bench/tenmillion.sh /var/tmp/tm/q "1000000 5000000 10000000"
set -eu
dir=${1:?work dir}
steps=${2:-"1000000 5000000 10000000"}
size=${SIZE:-1024}
total=0
for n in $steps; do total=$n; done
mkdir -p "$dir"
go build -o "$dir/scale" ./bench/scale
go build -o "$dir/console" ./bench/console
go build -o "$dir/mtaq" ./cmd/mtaq
for n in $steps; do
	echo "== $n $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
	nice "$dir/scale" -n "$n" -total "$total" -size "$size" -reuse -keep -dir "$dir" -mtaq "$dir/mtaq" -idle "${IDLE:-60s}"
	echo "-- du $(du -sb "$dir/data" | cut -f1) bytes apparent, $(du -s --block-size=1 "$dir/data" | cut -f1) allocated"
	echo "-- console $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
	nice "$dir/console" -data "$dir/data" -rounds "${ROUNDS:-20}" -outcomes 0
	echo "-- done $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
done
