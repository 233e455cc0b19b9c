// Command goppbench is Go's side of gopp's benchmark set (bench/README.md):
// B1..B8 and B11..B15 written the way a Go programmer writes them, so that gopp-bench and
// the C++ peers have a reference to be compared with. B15 uses the real
// golang.org/x/sync/semaphore: bench/compare builds this program in GOPATH mode
// (GO111MODULE=off) against Debian's golang-golang-x-sync-dev under /usr/share/gocode, since
// the machine has no module proxy.
//
// Output, one line per benchmark: `<ID> <name> <metric>=<value> ...`.
// Flags: --quick divides every size by 10; --only B3 runs one benchmark. Without --only every
// benchmark but B6 runs (B6 measures the process's peak memory, so it runs alone).
// B1..B7 run their body once untimed (a warm-up: the runtime keeps freed goroutine stacks for
// reuse), then once timed. GOMAXPROCS is Go's default, the number of cores.
package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// scale is 1, or 10 under --quick: every size is divided by it.
var scale = 1

func sized(n int) int { return n / scale }

// B1: two goroutines, two unbuffered channels; main sends i, the other sends it back.
func pingpong(n int) {
	ping := make(chan int)
	pong := make(chan int)
	go func() {
		for v := range ping {
			pong <- v
		}
		close(pong)
	}()
	for i := 0; i < n; i++ {
		ping <- i
		if <-pong != i {
			panic("pingpong: wrong value")
		}
	}
	close(ping)
}

// B2: one producer, one consumer (main), a channel of capacity 1024.
func spsc(n int) {
	ch := make(chan int, 1024)
	go func() {
		for i := 0; i < n; i++ {
			ch <- i
		}
		close(ch)
	}()
	count := 0
	for range ch {
		count++
	}
	if count != n {
		panic("spsc: lost items")
	}
}

// B3: 4 producers, 4 consumers, a channel of capacity 128; every item counted.
func mpmc(perProducer int) {
	const producers, consumers = 4, 4
	ch := make(chan int, 128)
	var pwg sync.WaitGroup
	for p := 0; p < producers; p++ {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			for i := 0; i < perProducer; i++ {
				ch <- i
			}
		}()
	}
	counts := make([]int, consumers)
	var cwg sync.WaitGroup
	for c := 0; c < consumers; c++ {
		cwg.Add(1)
		go func(c int) {
			defer cwg.Done()
			n := 0
			for range ch {
				n++
			}
			counts[c] = n
		}(c)
	}
	pwg.Wait()
	close(ch)
	cwg.Wait()
	total := 0
	for _, n := range counts {
		total += n
	}
	if total != producers*perProducer {
		panic("mpmc: lost items")
	}
}

// B4: spawn n goroutines, each calls wg.Done(); main waits.
func spawn(n int) {
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			wg.Done()
		}()
	}
	wg.Wait()
}

// B5 is "Go by Example: Worker Pools" with numJobs jobs and no printing or sleeping.
func worker(id int, jobs <-chan int, results chan<- int) {
	for j := range jobs {
		results <- j * 2
	}
}

func poolTiny(numJobs int) {
	jobs := make(chan int, numJobs)
	results := make(chan int, numJobs)
	for w := 1; w <= 3; w++ {
		go worker(w, jobs, results)
	}
	for j := 1; j <= numJobs; j++ {
		jobs <- j
	}
	close(jobs)
	for a := 1; a <= numJobs; a++ {
		<-results
	}
}

// B6: n goroutines each sleep 100 ms then call wg.Done(); main waits.
func sleepers(n int) {
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(100 * time.Millisecond)
		}()
	}
	wg.Wait()
}

// B7: one receiver selects over two unbuffered channels fed by two producers of n ints each.
func select2(n int) {
	a := make(chan int)
	b := make(chan int)
	produce := func(ch chan<- int) {
		for i := 0; i < n; i++ {
			ch <- i
		}
		close(ch)
	}
	go produce(a)
	go produce(b)
	count := 0
	for a != nil || b != nil {
		select {
		case _, ok := <-a:
			if !ok {
				a = nil
				continue
			}
			count++
		case _, ok := <-b:
			if !ok {
				b = nil
				continue
			}
			count++
		}
	}
	if count != 2*n {
		panic("select2: lost items")
	}
}

// B14: one receiver selects over 64 unbuffered channels built at run time (reflect.Select), fed
// by 64 producers of n/64 ints each. A closed channel's case is switched off with a zero Chan.
func selectDyn(n int) {
	const k = 64
	per := n / k
	cases := make([]reflect.SelectCase, k)
	for i := 0; i < k; i++ {
		ch := make(chan int)
		go func() {
			for j := 0; j < per; j++ {
				ch <- j
			}
			close(ch)
		}()
		cases[i] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)}
	}
	count := 0
	for open := k; open > 0; {
		i, _, ok := reflect.Select(cases)
		if !ok {
			cases[i].Chan = reflect.Value{}
			open--
			continue
		}
		count++
	}
	if count != k*per {
		panic("select_dyn: lost items")
	}
}

// B8 is the seed: "Go by Example: Worker Pools" as written (5 jobs, 3 workers, each job
// sleeps), without its printing; then the same jobs one after another.
func seedWorker(id int, jobs <-chan int, results chan<- int, d time.Duration) {
	for j := range jobs {
		time.Sleep(d)
		results <- j * 2
	}
}

func seedPool(d time.Duration) {
	const numJobs = 5
	jobs := make(chan int, numJobs)
	results := make(chan int, numJobs)
	for w := 1; w <= 3; w++ {
		go seedWorker(w, jobs, results, d)
	}
	for j := 1; j <= numJobs; j++ {
		jobs <- j
	}
	close(jobs)
	for a := 1; a <= numJobs; a++ {
		<-results
	}
}

func seedSequential(d time.Duration) {
	const numJobs = 5
	sum := 0
	for j := 1; j <= numJobs; j++ {
		time.Sleep(d)
		sum += j * 2
	}
	_ = sum
}

// timed runs body once untimed (the warm-up), then once timed, and returns the timed duration.
// B11: wake latency. A receiver parks on an unbuffered channel; the sender waits (computing,
// never blocking) until the receiver has said it is about to park, computes 200 us more, sends
// it the time, and computes for 20 ms. Measured: from the send to the receiver running.
func wakeLatency(trials int) string {
	computeFor := func(d time.Duration) {
		until := time.Now().Add(d)
		for time.Now().Before(until) {
		}
	}
	wake := make(chan time.Time)
	var aboutToPark atomic.Bool
	us := make([]float64, 0, trials)
	done := make(chan struct{})
	go func() {
		for {
			aboutToPark.Store(true)
			t0, ok := <-wake
			if !ok {
				break
			}
			us = append(us, float64(time.Since(t0).Nanoseconds())/1e3)
		}
		close(done)
	}()
	for i := 0; i < trials; i++ {
		giveUp := time.Now().Add(100 * time.Millisecond)
		for !aboutToPark.Load() && time.Now().Before(giveUp) {
		}
		aboutToPark.Store(false)
		computeFor(200 * time.Microsecond)
		wake <- time.Now()
		computeFor(20 * time.Millisecond)
	}
	close(wake)
	<-done
	sort.Float64s(us)
	pct := func(p float64) float64 { return us[int(p*float64(len(us)-1))] }
	return fmt.Sprintf("p50_us=%.1f p99_us=%.1f max_us=%.1f", pct(0.5), pct(0.99), us[len(us)-1])
}

// B13: 8 readers and 1 writer on one RWMutex, 90% reads: of total operations, 9/10 are reads
// split evenly over the readers and 1/10 writes by the writer.
func rwMutex(total int) {
	var mu sync.RWMutex
	value := 0
	writes := total / 10
	perReader := (total - writes) / 8
	var sink int64
	var wg sync.WaitGroup
	wg.Add(9)
	for r := 0; r < 8; r++ {
		go func() {
			defer wg.Done()
			sum := 0
			for i := 0; i < perReader; i++ {
				mu.RLock()
				sum += value
				mu.RUnlock()
			}
			atomic.AddInt64(&sink, int64(sum))
		}()
	}
	go func() {
		defer wg.Done()
		for i := 0; i < writes; i++ {
			mu.Lock()
			value++
			mu.Unlock()
		}
	}()
	wg.Wait()
	if value != writes {
		panic("rwmutex: lost writes")
	}
}

// B15: 4 goroutines x n Acquire(1)/Release(1) pairs on a semaphore.Weighted of size 2.
func semaphorePairs(n int) {
	sem := semaphore.NewWeighted(2)
	ctx := context.Background()
	var wg sync.WaitGroup
	wg.Add(4)
	for g := 0; g < 4; g++ {
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				if err := sem.Acquire(ctx, 1); err != nil {
					panic(err)
				}
				sem.Release(1)
			}
		}()
	}
	wg.Wait()
}

func timed(body func()) time.Duration {
	body()
	start := time.Now()
	body()
	return time.Since(start)
}

func nsPer(d time.Duration, n int) string {
	return strconv.FormatFloat(float64(d.Nanoseconds())/float64(n), 'f', 1, 64)
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Nanoseconds())/1e6, 'f', 1, 64)
}

// vmHWMMiB reads the process's peak resident set size (VmHWM) from /proc/self/status.
func vmHWMMiB() string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return "nan"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "VmHWM:" {
			kb, err := strconv.ParseFloat(fields[1], 64)
			if err != nil {
				return "nan"
			}
			return strconv.FormatFloat(kb/1024, 'f', 1, 64)
		}
	}
	return "nan"
}

// B12: 4 goroutines each lock and unlock one mutex n times around an increment.
func mutexContended(per int) {
	const goroutines = 4
	var mu sync.Mutex
	counter := 0
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if counter != goroutines*per {
		panic("mutex: lost increments")
	}
}

type benchmark struct {
	id, name string
	run      func() string // runs the benchmark, returns its metrics
}

func benchmarks() []benchmark {
	return []benchmark{
		{"B1", "pingpong", func() string {
			n := sized(1_000_000)
			return "ns_per_roundtrip=" + nsPer(timed(func() { pingpong(n) }), n)
		}},
		{"B2", "spsc", func() string {
			n := sized(10_000_000)
			return "ns_per_item=" + nsPer(timed(func() { spsc(n) }), n)
		}},
		{"B3", "mpmc", func() string {
			per := sized(2_500_000)
			return "ns_per_item=" + nsPer(timed(func() { mpmc(per) }), 4*per)
		}},
		{"B4", "spawn", func() string {
			n := sized(1_000_000)
			return "ns_per_goroutine=" + nsPer(timed(func() { spawn(n) }), n)
		}},
		{"B5", "pool_tiny", func() string {
			n := sized(1_000_000)
			return "ms_total=" + ms(timed(func() { poolTiny(n) }))
		}},
		{"B6", "sleepers", func() string {
			n := sized(100_000)
			d := timed(func() { sleepers(n) })
			return "ms_total=" + ms(d) + " vmhwm_mb=" + vmHWMMiB()
		}},
		{"B7", "select2", func() string {
			n := sized(500_000)
			return "ns_per_item=" + nsPer(timed(func() { select2(n) }), 2*n)
		}},
		{"B8", "seed_demo", func() string {
			d := time.Second / time.Duration(scale)
			start := time.Now()
			seedPool(d)
			pool := time.Since(start)
			start = time.Now()
			seedSequential(d)
			seq := time.Since(start)
			return fmt.Sprintf("s_pool=%.3f s_sequential=%.3f", pool.Seconds(), seq.Seconds())
		}},
		{"B11", "wake_latency", func() string { return wakeLatency(sized(1_000)) }},
		{"B14", "select_dyn", func() string {
			n := sized(2_000_000)
			return "ns_per_item=" + nsPer(timed(func() { selectDyn(n) }), n/64*64)
		}},
		{"B12", "mutex", func() string {
			per := sized(1_000_000)
			return "ns_per_op=" + nsPer(timed(func() { mutexContended(per) }), 4*per)
		}},
		{"B13", "rwmutex", func() string {
			n := sized(4_000_000)
			return "ns_per_op=" + nsPer(timed(func() { rwMutex(n) }), n)
		}},
		{"B15", "semaphore", func() string {
			per := sized(1_000_000)
			return "ns_per_op=" + nsPer(timed(func() { semaphorePairs(per) }), 4*per)
		}},
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: gopp-go-bench [--quick] [--only B1..B8|B14]")
	os.Exit(2)
}

func main() {
	only := ""
	args := os.Args[1:]
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "--quick":
			scale = 10
		case "--only":
			if i+1 >= len(args) {
				usage()
			}
			i++
			only = args[i]
		default:
			usage()
		}
	}
	found := false
	for _, b := range benchmarks() {
		if only != "" && b.id != only || only == "" && b.id == "B6" {
			continue
		}
		found = true
		fmt.Printf("%s %s %s\n", b.id, b.name, b.run())
	}
	if !found {
		fmt.Fprintf(os.Stderr, "gopp-go-bench: no benchmark %q\n", only)
		os.Exit(2)
	}
}
