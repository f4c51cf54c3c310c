#!/bin/sh
# Leaves a grandchild holding stdout and stderr open, then exits 0 at once (cpython#76116, C3).
sleep 1000000 &
echo "$!" > grandchild.pid
echo "y = 1.5"
exit 0
