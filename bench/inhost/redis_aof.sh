#!/bin/sh
# Redis persistence cost on this host's disk: redis-benchmark against a throwaway redis-server (loopback port
# 6391, data in /var/tmp, never the installed instance) with AOF off, everysec and always. One JSON line.
#   redis_aof.sh [REQUESTS] [CLIENTS]
set -eu
requests=${1:-200000}
clients=${2:-50}
port=6391
dir=/var/tmp/bench-redis
printf '{'
first=1
for mode in off everysec always; do
  rm -rf "$dir" && mkdir -p "$dir" && chown redis:redis "$dir"
  if [ "$mode" = off ]; then aof="--appendonly no"; else aof="--appendonly yes --appendfsync $mode"; fi
  # shellcheck disable=SC2086
  runuser -u redis -- redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save '' $aof \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
  i=0
  until redis-cli -p "$port" PING >/dev/null 2>&1; do i=$((i + 1)); [ $i -lt 50 ] || exit 1; sleep 0.1; done
  out=$(redis-benchmark -p "$port" -t set,lpush -n "$requests" -c "$clients" -q --csv)
  redis-cli -p "$port" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
  set_rps=$(echo "$out" | awk -F'"' '/^"SET"/ {print $4}')
  lpush_rps=$(echo "$out" | awk -F'"' '/^"LPUSH"/ {print $4}')
  [ $first = 1 ] || printf ','
  first=0
  printf '"%s": {"set_per_s": %s, "lpush_per_s": %s}' "$mode" "$set_rps" "$lpush_rps"
done
rm -rf "$dir"
printf ', "requests": %s, "clients": %s}\n' "$requests" "$clients"
