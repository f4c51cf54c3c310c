#!/bin/sh
# Starts a daemon that clears its environment and leaves the session (no mark, no
# process group to find it by), records its pid in "$UQKIT_TEST_PIDS", then runs long.
env -i setsid sh -c 'sleep 1000 & echo "$!" >> "$1"' daemon "$UQKIT_TEST_PIDS"
echo "started $1" >> "$UQKIT_TEST_PIDS.ready"
sleep 1000
echo "$1"
