#!/bin/sh
# Hangs through a grandchild: the shell waits for `sleep`, which never ends (RELIABILITY C1).
# With IGNORE_TERM=1 the shell and its child ignore SIGTERM (C2).
if [ "$IGNORE_TERM" = "1" ]; then trap '' TERM; fi
echo "started $$" 
sleep 1000000 &
echo "$!" > grandchild.pid
wait
