#!/usr/bin/env bash
# bench/dist/run_b10.sh: benchmark B10 (BENCHSET.md): tiny jobs end to end through one local
# redis-server (AOF everysec) for gopp::dist and for BullMQ, 2 worker processes of matched
# concurrency each; enqueue-only and drain-only phases; CPU per job over every process.
#
#   bench/dist/run_b10.sh                 # 100,000 jobs
#   bench/dist/run_b10.sh --jobs 10000    # quicker
#
# Installs what it needs: redis-server (scripts/install-deps.sh), BullMQ (npm, in bench/dist),
# and builds b10-gopp (preset bench). Each system gets a fresh redis-server on a free port in a
# temporary directory. Raw lines go to bench/results/raw/b10/, the table to bench/results/b10.md.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
jobs=100000
concurrency=8
while (($#)); do
  case $1 in
    --jobs) jobs=$2; shift 2 ;;
    --concurrency) concurrency=$2; shift 2 ;;
    *) echo "usage: $0 [--jobs N] [--concurrency C]" >&2; exit 2 ;;
  esac
done
"$root/scripts/install-deps.sh"
(cd "$here" && { [ -d node_modules/bullmq ] || npm install --silent --no-audit --no-fund; })
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root}
cmake --preset bench -S "$root" > /dev/null
cmake --build "$root/build/bench" --target b10-gopp -j2 > /dev/null
raw=$root/bench/results/raw/b10
mkdir -p "$raw"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run_one() {  # system: gopp | bullmq
  local system=$1 dir port out
  dir=$(mktemp -d /tmp/gopp-b10-XXXXXX)
  port=$(free_port)
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --appendonly yes --appendfsync everysec \
    --maxmemory-policy noeviction --save "" --daemonize no --logfile "$dir/redis.log" &
  redis=$!
  trap 'kill -9 $redis ${w1:-} ${w2:-} 2> /dev/null || true' EXIT
  for _ in $(seq 100); do redis-cli -p "$port" ping > /dev/null 2>&1 && break; sleep 0.05; done
  local worker_cmd producer_cmd
  if [ "$system" = gopp ]; then
    worker_cmd=("$root/build/bench/bench/b10-gopp" worker "redis://127.0.0.1:$port" b10 "$concurrency")
    producer_cmd=("$root/build/bench/bench/b10-gopp" produce "redis://127.0.0.1:$port" b10 "$jobs")
  else
    worker_cmd=(node "$here/b10_bullmq.mjs" worker "$port" b10 "$concurrency")
    producer_cmd=(node "$here/b10_bullmq.mjs" produce "$port" b10 "$jobs")
  fi
  "${worker_cmd[@]}" > "$dir/w1.log" 2>&1 & w1=$!
  "${worker_cmd[@]}" > "$dir/w2.log" 2>&1 & w2=$!
  for _ in $(seq 200); do grep -q ready "$dir/w1.log" && grep -q ready "$dir/w2.log" && break; sleep 0.05; done
  out=$("${producer_cmd[@]}" "$w1,$w2" "$redis")
  echo "$out" | sed "s/^/system=$system /" | tee "$raw/$system.txt"
  kill -TERM "$w1" "$w2" 2> /dev/null || true
  wait "$w1" "$w2" 2> /dev/null || true
  kill -TERM "$redis"; wait "$redis" 2> /dev/null || true
  trap - EXIT
  rm -rf "$dir"
}

run_one gopp
run_one bullmq

get() { grep "phase=$2 " "$raw/$1.txt" | tr ' ' '\n' | grep "^$3=" | cut -d= -f2; }
{
  echo "# B10: $jobs tiny jobs, 2 worker processes x concurrency $concurrency, redis AOF everysec"
  echo
  echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
  echo
  echo "| phase | gopp jobs/s | BullMQ jobs/s | ratio |"
  echo "|---|---|---|---|"
  for p in enqueue drain e2e; do
    g=$(get gopp $p jobs_per_s); b=$(get bullmq $p jobs_per_s)
    echo "| $p | $g | $b | $(python3 -c "print(f'{$g/$b:.2f}x')") |"
  done
  g=$(get gopp e2e cpu_us_per_job); b=$(get bullmq e2e cpu_us_per_job)
  echo "| e2e CPU us/job (all processes) | $g | $b | $(python3 -c "print(f'{$g/$b:.2f}x')") |"
} | tee "$root/bench/results/b10.md"
