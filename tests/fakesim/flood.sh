#!/bin/sh
# Writes $FLOOD_BYTES bytes on stdout, then its result to out.txt (C4).
head -c "$FLOOD_BYTES" /dev/zero
echo "2.5" > out.txt
