#!/bin/sh
# Starts a child, a grandchild and a double-forked setsid daemon, appends every pid to
# "$UQKIT_TEST_PIDS" and then runs for SECONDS (argument 2, default 1000) before
# printing y. Process-tree tests check that none of them outlives the evaluation.
pids="$UQKIT_TEST_PIDS"
sleep 1000 &
echo "$!" >> "$pids"
sh -c 'sleep 1000 & echo "$!" >> "$1"; wait' grandchild "$pids" &
echo "$!" >> "$pids"
setsid sh -c 'sleep 1000 & echo "$!" >> "$1"' daemon "$pids"
echo "$$" >> "$pids"
echo "started $1" >> "$pids.ready"
sleep "${2:-1000}"
echo "$1"
