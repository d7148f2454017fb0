#!/usr/bin/env bash
# One caller of method (c): the two-command shell idiom of DESIGN.md §4.2 in
# a bash loop.  Usage: shell-loop.sh OPFILE MESSAGE LATFILE
# Does one operation, prints "ready", reads "START_US END_US" (epoch µs) from
# stdin, then runs the idiom until END_US, writing each latency in µs (or
# "E <reason>") to LATFILE, and prints the end time of its last operation.
f=$1 msg=$2 lat=$3 sig=$3.sig
echo -n "$msg" > "$f" && cat "$f" > "$sig" && [ -s "$sig" ] || { echo "failed"; exit 1; }
echo ready
read -r start end
last=$start
while :; do
	t0=${EPOCHREALTIME/./}
	((t0 < end)) || break
	if echo -n "$msg" > "$f" && cat "$f" > "$sig" && [ -s "$sig" ]; then
		last=${EPOCHREALTIME/./}
		echo $((last - t0))
	else
		echo "E operation failed at $t0"
	fi
done > "$lat"
rm -f "$sig"
echo "$last"
