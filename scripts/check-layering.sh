#!/bin/sh
# Fail when a module includes what DESIGN.md §1 forbids it:
#   curl       only in client/
#   json-c     only in client/ and emulator/
#   FUSE       only in fs/
#   client/    never from emulator/ or crypto/; crypto/ includes nothing of ours
#   microhttpd only in emulator/
# Prints TAP.
top=${1:-$(dirname "$0")/..}
cd "$top" || exit 99
n=0
fail=0
check() {	# description, dirs to search, include pattern
	desc=$1 dirs=$2 pat=$3
	n=$((n + 1))
	hits=$(grep -rnE "^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]($pat)" $dirs \
		--include='*.c' --include='*.h' 2>/dev/null)
	if [ -n "$hits" ]; then
		echo "not ok $n - $desc"
		echo "$hits" | sed 's/^/# /'
		fail=1
	else
		echo "ok $n - $desc"
	fi
}
echo "1..6"
check "curl only in client/" "crypto fs emulator" 'curl/'
check "json-c only in client/ and emulator/" "crypto fs" 'json-c/|json\.h'
check "FUSE only in fs/" "crypto client emulator" 'fuse'
check "microhttpd only in emulator/" "crypto client fs" 'microhttpd'
check "emulator/ and crypto/ do not use client/" "crypto emulator" 'hsm_client\.h|client/'
check "crypto/ uses nothing of fs/ or emulator/" "crypto client" 'emu\.h|fs/|hsmfs\.h'
exit $fail
