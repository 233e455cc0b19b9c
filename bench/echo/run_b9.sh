#!/usr/bin/env bash
# bench/echo/run_b9.sh: benchmark B9, loopback TCP echo (bench/README.md), for gopp, Go and
# Boost.Asio, summarised in bench/results/b9.md (and b9.png when gopp ran).
#
#   bench/echo/run_b9.sh --quick            # 0.2 s warm-up + 1 s per configuration, 3 rounds
#   bench/echo/run_b9.sh                    # 1 s warm-up + 5 s per configuration, 5 rounds
#   bench/echo/run_b9.sh --rounds 7 --servers go,asio
#   bench/echo/run_b9.sh --gopp-server PATH # another program in gopp's place
#   (bench/compare --only B9 installs what is missing, then runs this)
#
# For each round, for each server in turn (gopp go asio, gopp go asio, ...):
#   1. starts it pinned to core 0 with one worker (GOPP_THREADS=1, GOMAXPROCS=1; Asio runs one
#      thread) on 127.0.0.1:0 and reads its address from its "listening on ADDR" line;
#   2. runs echo-loadgen pinned to core 1 for each configuration: pingpong with 1, 64 and 1,000
#      connections x 64 B and 1 KiB, then streaming with 4 connections x 16 KiB, and stops it;
#   3. starts it afresh, opens 10,000 idle connections (kb_per_idle_conn) and stops it.
# Then it takes the median over the rounds of every configuration, metric and server, and
# prints the table with the ratios gopp/go and gopp/asio. Raw outputs: bench/results/raw/b9/.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bench=$(dirname "$here")
root=$(dirname "$bench")
results=$bench/results
raw=$results/raw/b9

quick=0
rounds=""
servers=(gopp go asio)
gopp_override=""
usage() {
  sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}
while (($#)); do
  case $1 in
    --quick) quick=1 ;;
    --rounds)
      [[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || { echo "run_b9: --rounds takes a count" >&2; exit 2; }
      rounds=$2
      shift
      ;;
    --servers)
      [[ $# -ge 2 && $2 =~ ^(gopp|go|asio)(,(gopp|go|asio))*$ ]] ||
        { echo "run_b9: --servers takes a list of gopp, go, asio" >&2; exit 2; }
      IFS=, read -r -a servers <<<"$2"
      shift
      ;;
    --gopp-server)
      [[ $# -ge 2 && -x $2 ]] || { echo "run_b9: --gopp-server takes an executable" >&2; exit 2; }
      gopp_override=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
      shift
      ;;
    -h | --help) usage ;;
    *) echo "run_b9: unknown argument $1" >&2; usage 2 ;;
  esac
  shift
done
[[ -n $rounds ]] || rounds=$((quick ? 3 : 5))
if ((quick)); then warmup=0.2 duration=1; else warmup=1 duration=5; fi

say() { printf 'run_b9: %s\n' "$*"; }
started=$SECONDS
rm -rf "$raw"
mkdir -p "$raw"

# --- build ----------------------------------------------------------------------------------
first_error() {
  grep -m1 -E 'error:|CMake Error|No rule to make target|unknown target' "$1" | cut -c1-240 ||
    echo "see $1"
}
declare -A bin=() skipped=()

build_dir=$root/build/bench
if (cd "$root" && cmake --preset bench) >"$raw/configure.log" 2>&1; then
  bench_bin=$build_dir/bench
else
  build_dir=$root/build/bench-peers
  bench_bin=$build_dir
  say "the project does not configure ($(first_error "$raw/configure.log")); building the" \
    "load generator and asio-echo from bench/ alone in $build_dir"
  cmake -S "$bench" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    >"$raw/configure-peers.log" 2>&1 ||
    { say "bench/ does not configure either: see $raw/configure-peers.log"; exit 1; }
fi
jobs=$(nproc)
if ! cmake --build "$build_dir" --target echo-loadgen -j "$jobs" >"$raw/build-echo-loadgen.log" 2>&1
then
  say "echo-loadgen does not build: $(first_error "$raw/build-echo-loadgen.log")"
  exit 1
fi
loadgen=$bench_bin/echo-loadgen

want() { [[ " ${servers[*]} " == *" $1 "* ]]; }

if want gopp; then
  if [[ -n $gopp_override ]]; then
    bin[gopp]=$gopp_override
  elif [[ ! -f $root/examples/echo_server.cpp ]]; then
    skipped[gopp]="examples/echo_server.cpp does not exist yet (gopp::net, issue 10)"
  elif [[ $build_dir != "$root/build/bench" ]]; then
    skipped[gopp]="the project does not configure, so examples/echo_server cannot be built"
  elif cmake --build "$build_dir" --target echo_server -j "$jobs" >"$raw/build-echo_server.log" 2>&1
  then
    bin[gopp]=$build_dir/examples/echo_server
  else
    skipped[gopp]="examples/echo_server does not build: $(first_error "$raw/build-echo_server.log")"
  fi
fi
if want go; then
  export GOCACHE=${GOCACHE:-$root/build/go-cache}
  if ! command -v go >/dev/null 2>&1; then
    skipped[go]="no go command"
  elif (cd "$bench/go" && go build -o gopp-go-echo ./echo) >"$raw/build-go.log" 2>&1; then
    bin[go]=$bench/go/gopp-go-echo
  else
    skipped[go]="go build failed: $(first_error "$raw/build-go.log")"
  fi
fi
if want asio; then
  if cmake --build "$build_dir" --target asio-echo -j "$jobs" >"$raw/build-asio-echo.log" 2>&1; then
    bin[asio]=$bench_bin/asio-echo
  else
    why=$(grep -h -m1 "asio-echo left out" "$raw"/configure*.log 2>/dev/null |
      sed 's/^-- gopp bench: //' || true)
    skipped[asio]=${why:-"build failed: $(first_error "$raw/build-asio-echo.log")"}
  fi
fi
present=()
for s in "${servers[@]}"; do
  if [[ -n ${bin[$s]:-} ]]; then
    present+=("$s")
    say "server $s: ${bin[$s]#"$root"/}"
  else
    say "SKIPPED $s: ${skipped[$s]}"
  fi
done
((${#present[@]})) || { say "no server to run"; exit 1; }

# --- machine --------------------------------------------------------------------------------
# Descriptors: 10,000 idle connections are 10,000 in the load generator and as many in the
# server (which inherits this shell's limit). The hard limit is as far as an unprivileged
# process can go.
hard=$(ulimit -Hn)
[[ $hard == unlimited ]] || ulimit -n "$hard"
soft=$(ulimit -n)
idle_conns=10000
if [[ $soft != unlimited ]] && ((soft < idle_conns + 100)); then
  idle_conns=$((soft - 100))
  say "RLIMIT_NOFILE is $soft: the idle configuration opens $idle_conns connections, not 10,000"
fi

# Server on core 0, load generator on core 1, where the machine lets us pin.
allowed=$(taskset -pc $$ 2>/dev/null | sed 's/.*: //' || true)
if command -v taskset >/dev/null 2>&1 && (($(nproc) >= 2)) && taskset -c 0,1 true 2>/dev/null
then
  pin_server=(taskset -c 0)
  pin_client=(taskset -c 1)
  pinning="server on core 0, load generator on core 1"
else
  pin_server=()
  pin_client=()
  pinning="not pinned (needs taskset and cores 0 and 1; allowed here: ${allowed:-?})"
  say "WARNING: $pinning"
fi

# --- run --------------------------------------------------------------------------------------
configs=(
  "--mode pingpong --conns 1 --size 64"
  "--mode pingpong --conns 1 --size 1024"
  "--mode pingpong --conns 64 --size 64"
  "--mode pingpong --conns 64 --size 1024"
  "--mode pingpong --conns 1000 --size 64"
  "--mode pingpong --conns 1000 --size 1024"
  "--mode streaming --conns 4 --size 16384"
)
idle_config="--mode idle --conns $idle_conns"
timing="--warmup $warmup --duration $duration"

server_env() {  # the environment that gives each server one worker
  case $1 in
    gopp) echo GOPP_THREADS=1 ;;
    go) echo GOMAXPROCS=1 ;;
    asio) echo ;;  # asio-echo runs its io_context on the main thread alone
  esac
}

server_pid=""
loadgen_pid=""
cleanup() {
  [[ -z $loadgen_pid ]] || kill "$loadgen_pid" 2>/dev/null || true
  [[ -z $server_pid ]] || kill -KILL "$server_pid" 2>/dev/null || true
}
trap 'cleanup; say "interrupted"; exit 130' INT TERM
trap cleanup EXIT

# start_server <system> <log>: sets server_pid and server_addr, or returns 1.
start_server() {
  local sys=$1 log=$2 i
  : >"$log"  # exists before the server opens it, for the polling below
  # taskset and env exec the next program, so $! is the server's own pid.
  local envs=()
  read -r -a envs <<<"$(server_env "$sys")"
  "${pin_server[@]}" env "${envs[@]}" "${bin[$sys]}" 127.0.0.1:0 >"$log" 2>&1 &
  server_pid=$!
  server_addr=""
  for ((i = 0; i < 100; i++)); do
    server_addr=$(sed -n 's/^listening on \(.*\)$/\1/p' "$log" | head -1)
    [[ -z $server_addr ]] || break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -z $server_addr || $server_addr == *:0 ]]; then
    say "$sys did not print \"listening on ADDR\" with its port within 10 s:" \
      "$(head -c 200 "$log" | tr '\n' ' ')"
    stop_server
    return 1
  fi
}

stop_server() {
  [[ -n $server_pid ]] || return 0
  local i
  kill -TERM "$server_pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

# one_config <system> <round> <out> <config...>: one load generator run; its line goes to <out>.
one_config() {
  local sys=$1 r=$2 out=$3
  shift 3
  local rc=0
  # shellcheck disable=SC2086  # the configurations are word lists
  timeout 120 "${pin_client[@]}" "$loadgen" --server "$server_addr" --pid "$server_pid" "$@" \
    >>"$out" 2>>"${out%.out}.err" &
  loadgen_pid=$!
  wait "$loadgen_pid" || rc=$?
  loadgen_pid=""
  if ((rc != 0)); then
    say "round $r $sys: FAILED (exit $rc): $* -- $(tail -c 200 "${out%.out}.err" | tr '\n' ' ')"
    echo "$* exit $rc" >>"${out%.out}.failed"
  fi
}

for ((r = 1; r <= rounds; r++)); do
  for sys in "${present[@]}"; do
    out=$raw/$sys.r$r.out
    : >"$out"
    t0=$SECONDS
    if start_server "$sys" "$raw/$sys.r$r.server.log"; then
      for c in "${configs[@]}"; do
        # shellcheck disable=SC2086
        one_config "$sys" "$r" "$out" $c $timing
        kill -0 "$server_pid" 2>/dev/null || { say "round $r $sys: the server died"; break; }
      done
      stop_server
    fi
    if start_server "$sys" "$raw/$sys.r$r.idle.log"; then
      # shellcheck disable=SC2086
      one_config "$sys" "$r" "$out" $idle_config
      stop_server
    fi
    say "round $r/$rounds: $sys ($((SECONDS - t0)) s)"
  done
done

# --- summarise --------------------------------------------------------------------------------
all=$raw/all.txt  # "<system> <round> B9 <config> k=v ..."
: >"$all"
for ((r = 1; r <= rounds; r++)); do
  for sys in "${present[@]}"; do
    f=$raw/$sys.r$r.out
    [[ -e $f ]] || continue
    awk -v s="$sys" -v r="$r" '$1 == "B9" && NF >= 3 { print s, r, $0 }' "$f" >>"$all"
  done
done
medians=$raw/medians.tsv  # config metric system median count values
awk '
  {
    sys = $1; cfg = $4
    if (!(cfg in seen_c)) { seen_c[cfg] = 1; cfgs[++nc] = cfg }
    for (i = 5; i <= NF; i++) {
      split($i, kv, "=")
      m = kv[1]
      if (!((cfg SUBSEP m) in seen_m)) { seen_m[cfg SUBSEP m] = 1; metrics[cfg, ++nm[cfg]] = m }
      k = cfg SUBSEP m SUBSEP sys
      if (!(k in n)) syss[cfg, m, ++ns[cfg, m]] = sys
      vals[k, ++n[k]] = kv[2] + 0
      list[k] = list[k] " " kv[2]
    }
  }
  END {
    for (a = 1; a <= nc; a++) {
      cfg = cfgs[a]
      for (b = 1; b <= nm[cfg]; b++) {
        m = metrics[cfg, b]
        for (c = 1; c <= ns[cfg, m]; c++) {
          sys = syss[cfg, m, c]; k = cfg SUBSEP m SUBSEP sys; cnt = n[k]
          for (i = 1; i <= cnt; i++) v[i] = vals[k, i]
          for (i = 2; i <= cnt; i++) {  # insertion sort: mawk has no asort
            x = v[i]
            for (j = i - 1; j >= 1 && v[j] > x; j--) v[j + 1] = v[j]
            v[j + 1] = x
          }
          med = (cnt % 2) ? v[(cnt + 1) / 2] : (v[cnt / 2] + v[cnt / 2 + 1]) / 2
          printf "%s\t%s\t%s\t%.6g\t%d\t%s\n", cfg, m, sys, med, cnt, substr(list[k], 2)
        }
      }
    }
  }
' "$all" >"$medians"

# Rows in the order the configurations ran, metrics in printed order.
rows=$raw/rows.txt
awk -F'\t' '!seen[$1 "\t" $2]++ { print $1 "\t" $2 }' "$medians" >"$rows"

median_of() {  # median_of <config> <metric> <system>
  awk -F'\t' -v c="$1" -v m="$2" -v s="$3" '$1 == c && $2 == m && $3 == s { print $4 }' "$medians"
}
cell() {
  local v
  if [[ " ${servers[*]} " != *" $3 "* ]]; then
    echo "not run"
  elif [[ -n ${skipped[$3]:-} ]]; then
    echo "skipped"
  elif v=$(median_of "$1" "$2" "$3") && [[ -n $v ]]; then
    echo "$v"
  else
    echo "—"
  fi
}
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    if (!(a ~ /^[0-9.eE+-]+$/ && b ~ /^[0-9.eE+-]+$/ && b + 0 > 0)) { printf "—"; exit }
    r = a / b; fmt = r < 0.1 ? "%.2g" : "%.2f"; printf fmt, r }'
}
better() {  # which way is better for a metric
  case $1 in
    roundtrips_per_s | mb_per_s) echo higher ;;
    server_cpu_pct | client_cpu_pct | server_rss_mb) echo "(info)" ;;
    *) echo lower ;;
  esac
}

cxx=$(awk -F= '/^CMAKE_CXX_COMPILER:/ { print $2 }' "$build_dir/CMakeCache.txt" 2>/dev/null || true)
cxx_version=$("${cxx:-c++}" --version 2>/dev/null | head -1 || echo unknown)
go_version=$(go version 2>/dev/null || echo "not installed")
boost_version=$(awk '/define BOOST_LIB_VERSION/ { gsub(/"/, "", $3); gsub(/_/, ".", $3);
  print $3 }' /usr/include/boost/version.hpp 2>/dev/null || true)
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
cpu_detail=$(awk -F': ' '/^cpu family/ { f = $2 } /^model\t/ { m = $2 } /^cpu MHz/ { hz = $2 }
  /^$/ { exit } END { printf "family %s model %s, %.0f MHz", f, m, hz }' /proc/cpuinfo)
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -z $(git -C "$root" status --porcelain -- . ':!bench/results' 2>/dev/null) ]] ||
  commit="$commit (with uncommitted changes in the tree)"
mode=$( ((quick)) && echo "--quick (${warmup} s warm-up, ${duration} s measured)" ||
  echo "full (${warmup} s warm-up, ${duration} s measured)")
peers=()
for s in go asio; do want "$s" && peers+=("$s"); done
shown=()
for s in gopp go asio; do want "$s" && shown+=("$s"); done

md=$results/b9.md
{
  echo "# B9 echo: loopback TCP echo"
  echo
  echo "Written by \`bench/echo/run_b9.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); described in"
  echo "bench/README.md. Each cell is the median of $rounds rounds; servers ran interleaved"
  echo "(${present[*]}, then again). The ratio is gopp/peer: for roundtrips_per_s and mb_per_s"
  echo "above 1 means gopp is faster; for the costs (CPU per round trip or per MB, latency, memory)"
  echo "below 1 means gopp is cheaper. server_cpu_pct and client_cpu_pct say who was saturated."
  echo
  echo "- Machine: $(nproc) cores, $cpu ($cpu_detail); $(uname -sr); $pinning"
  echo "- Compilers: C++ $cxx_version (-O2); $go_version; Boost ${boost_version:-?} (Asio)"
  echo "- Mode: $mode, $rounds rounds; gopp at commit $commit"
  echo "- Idle: $idle_conns connections; RLIMIT_NOFILE $soft"
  echo "- Load average when done: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  if awk -v l="$(cut -d' ' -f1 /proc/loadavg)" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
    echo "The machine was busy (load average above half its cores): the servers shared core 0 and"
    echo "the load generator core 1 with other processes, so rates and latencies say how much of a"
    echo "contended core each server got as much as how fast it is (a server that spins before it"
    echo "sleeps keeps more of it). The CPU per round trip is the steadier figure; look at"
    echo "server_cpu_pct, and at every run's value below."
    echo
  fi
  header="| configuration | metric | better |"
  rule="|---|---|---|"
  for s in "${shown[@]}"; do header+=" $s |"; rule+="---:|"; done
  if want gopp; then
    for p in "${peers[@]}"; do header+=" gopp/$p |"; rule+="---:|"; done
  fi
  echo "$header"
  echo "$rule"
  while IFS=$'\t' read -r cfg metric; do
    line="| $cfg | $metric | $(better "$metric") |"
    for s in "${shown[@]}"; do line+=" $(cell "$cfg" "$metric" "$s") |"; done
    if want gopp; then
      g=$(cell "$cfg" "$metric" gopp)
      for p in "${peers[@]}"; do line+=" $(ratio "$g" "$(cell "$cfg" "$metric" "$p")") |"; done
    fi
    echo "$line"
  done <"$rows"
  echo
  if ((${#skipped[@]})); then
    echo "Servers skipped:"
    echo
    for s in "${servers[@]}"; do [[ -z ${skipped[$s]:-} ]] || echo "- $s: ${skipped[$s]}"; done
    echo
  fi
  failed=("$raw"/*.failed)
  if [[ -e ${failed[0]} ]]; then
    echo "Runs that failed:"
    echo
    for f in "${failed[@]}"; do
      b=$(basename "$f" .failed)
      echo "- $b: $(tr '\n' ';' <"$f") $(tail -c 300 "$raw/$b.err" | tr '\n' ' ')"
    done
    echo
  fi
  echo "Commands (ADDR and PID are the server's):"
  echo
  echo '```'
  for s in "${present[@]}"; do
    echo "${pin_server[*]} env $(server_env "$s") ${bin[$s]#"$root"/} 127.0.0.1:0"
  done
  for c in "${configs[@]}"; do
    echo "${pin_client[*]} ${loadgen#"$root"/} --server ADDR --pid PID $c $timing"
  done
  echo "${pin_client[*]} ${loadgen#"$root"/} --server ADDR --pid PID $idle_config  # on a fresh server"
  echo '```'
  echo
  echo "Every run's value, in round order (median taken over these):"
  echo
  echo '```'
  awk -F'\t' '{ printf "%-20s %-28s %-5s %s\n", $1, $2, $3, $6 }' "$medians"
  echo '```'
} >"$md"

# The chart, when gopp ran: gopp's advantage over each peer, oriented so that above 1 is
# better for gopp whatever the metric (peer/gopp for costs, gopp/peer for rates).
png=$results/b9.png
if [[ -n ${bin[gopp]:-} ]] && ((${#peers[@]})) && command -v gnuplot >/dev/null 2>&1; then
  dat=$raw/advantage.tsv
  : >"$dat"
  xtics=""
  i=0
  while IFS=$'\t' read -r cfg metric; do
    b=$(better "$metric")
    [[ $b != "(info)" ]] || continue
    g=$(cell "$cfg" "$metric" gopp)
    line="$i"
    for p in "${peers[@]}"; do
      line+=$'\t'$(awk -v a="$g" -v b="$(cell "$cfg" "$metric" "$p")" -v hi="$b" 'BEGIN {
        if (a ~ /^[0-9.eE+-]+$/ && b ~ /^[0-9.eE+-]+$/ && a + 0 > 0 && b + 0 > 0)
          printf "%.4g", hi == "higher" ? a / b : b / a; else printf "NaN" }')
    done
    echo "$line" >>"$dat"
    xtics+="${xtics:+, }\"${cfg#echo_}\\n$metric\" $i"
    i=$((i + 1))
  done <"$rows"
  titles=""
  for p in "${peers[@]}"; do titles+="${titles:+ }gopp:$p"; done
  gnuplot >"$raw/gnuplot.log" 2>&1 <<EOF || say "gnuplot failed: see $raw/gnuplot.log"
set terminal pngcairo size 1500,650 font ",10" noenhanced
set output "$png"
set title "B9 echo: gopp's advantage over each peer (above 1: gopp better), medians of $rounds round(s); $cpu"
set datafile separator "\t"
set datafile missing "NaN"
set key outside right top
set grid ytics
set logscale y
set style fill solid 0.85 border -1
set xtics ($xtics) font ",7" nomirror rotate by -35
set ylabel "advantage (log scale)"
set bmargin 7
n = ${#peers[@]}
w = 0.8 / n
x(j) = column(1) + (j - (n + 1) / 2.0) * w
set xrange [-0.6:$i - 0.4]
plot for [j=1:n] "$dat" using (x(j)):(1):(x(j) - w / 2):(x(j) + w / 2):(1):(column(j + 1)) \
       with boxxyerror title word("$titles", j), \
     1 with lines lt -1 lw 1.5 title "1.0"
EOF
  say "wrote bench/results/b9.md and bench/results/b9.png"
else
  rm -f "$png"
  if [[ -z ${bin[gopp]:-} ]] || ((${#peers[@]} == 0)); then
    say "wrote bench/results/b9.md; no chart (it shows gopp against the peers)"
  else
    say "wrote bench/results/b9.md; no chart (no gnuplot)"
  fi
fi
echo
sed -n '/^| configuration/,/^$/p' "$md"
say "done in $((SECONDS - started)) s"
