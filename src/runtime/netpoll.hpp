// The network poller: goroutines that wait for a file descriptor park, and the runtime wakes
// them when the kernel says the descriptor is ready. Go's runtime/netpoll.go, on epoll.
//
// One poll descriptor (poll_desc) per registered fd, taken from a pool that never gives memory
// back (type-stable, so a late event or timer can always read it), with:
//   - two slots, one for the reader and one for the writer. A slot holds `empty`, `ready` (an
//     event came and nobody has consumed it), or the parker of the one party waiting on it.
//     Transitions are CASes and exchanges on the slot alone, so no event is lost:
//       event:   slot <- ready; if it held a parker, unpark it.
//       wait:    ready -> empty returns at once; else empty -> &parker, then park until the slot
//                no longer holds the parker (an event made it `ready`, or an eviction or deadline
//                took the parker out again).
//       evict / deadline: set the flag first, then CAS &parker -> empty and unpark it. The waiter
//                publishes its parker first, then reads the flag: with both seq_cst, one of the two
//                always sees the other (a waiter never sleeps past a close or a deadline).
//   - `closing` and a per-mode `expired` flag, read before every I/O call and after every wake.
//   - a deadline timer per mode (timer.hpp), cancelled when the deadline moves and on close;
//     fire() sets `expired` and takes the parker out of the slot, without the descriptor's lock
//     (fire runs under the heap lock; set_deadline cancels under the descriptor's lock).
//   - a sequence number, bumped each time the descriptor is reused; the epoll registration
//     carries it, so an event that was read before an fd was closed and is handled after its
//     descriptor went to a new fd is recognised as stale and dropped.
//
// Each fd is registered once, edge-triggered, for IN|OUT|RDHUP, when it is opened: I/O is "try
// the non-blocking system call; on EAGAIN, wait; try again".
//
// Who polls (scheduler.cpp): a worker that finds no goroutine to run polls without blocking
// before it steals; the last worker to go idle blocks in the poll instead of on its futex (an
// eventfd write breaks it when work arrives another way); the monitor (the timer thread) polls
// when nobody has for 10 ms. Goroutines readied by a poll are queued where other workers can
// steal them, and an idle worker is woken for them.
//
// Plain threads use the same descriptors: their parker is a futex, so a thread that waits blocks
// in the kernel until the poller (always running once a descriptor exists) wakes it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace gopp::detail {

struct poll_desc;  // netpoll.cpp
enum class io_mode : std::uint8_t { read = 1, write = 2, both = 3 };

// Why a wait or a check did not report readiness.
enum class poll_status : std::uint8_t {
  ready = 0,    // try the I/O call (again)
  closing = 1,  // evict() was called: "use of closed network connection"
  timeout = 2,  // the mode's deadline has passed: "i/o timeout"
};

namespace netpoll {
using clock = std::chrono::steady_clock;

// Registers `fd` (already non-blocking) and returns its descriptor. Throws std::system_error
// (from epoll_ctl: ENOMEM, ENOSPC past fs.epoll.max_user_watches). Starts the runtime.
poll_desc* open(int fd);
// Marks the descriptor closing and wakes every waiter; every later check() and wait() returns
// `closing`. Idempotent; safe from any thread while others wait.
void evict(poll_desc* pd) noexcept;
// Unregisters the fd and returns the descriptor to the pool. Call once, after evict() and after
// the last user has returned from wait(); the fd is the caller's to close afterwards.
void close(poll_desc* pd) noexcept;

// Before an I/O call: `closing` or `timeout` if the call must not be made, else `ready`.
poll_status check(const poll_desc* pd, io_mode mode) noexcept;
// After EAGAIN: parks the caller (a goroutine or a plain thread) until the fd may be ready for
// `mode` (read or write, not both), the deadline passes, or the descriptor is evicted. One
// reader and one writer at a time (callers serialise readers among themselves, and writers); a
// second wait in a direction that already has one throws std::logic_error.
poll_status wait(poll_desc* pd, io_mode mode);

// Sets the deadline of reads, writes or both. clock::time_point::max() (or {}): none. A time
// in the past expires at once and wakes a parked waiter with `timeout`. Safe from any thread at
// any time, also while a waiter is parked (the new deadline applies to it).
void set_deadline(poll_desc* pd, io_mode mode, clock::time_point when) noexcept;

// Called after an I/O call that completed without waiting: every so many in a row, the calling
// goroutine yields, so a socket that is always ready cannot starve the goroutines behind it.
void io_progress() noexcept;

// Descriptors open now (for tests: no descriptor leaks).
std::size_t open_count() noexcept;

// ---- The scheduler's side ------------------------------------------------------------------
// True once any descriptor was ever opened: until then the scheduler never polls, so a program
// without I/O pays nothing.
bool active() noexcept;
// Polls without blocking (delay 0) or blocking (delay < 0: until an event or a break_poll()).
// The waiters it finds ready are unparked: goroutines through scheduler::ready() (so from a
// worker's loop they join its local queue, from another thread the global one), plain threads
// directly. Returns how many it woke. Any number of threads may poll at once.
std::size_t poll(int delay_ms);
// Makes a blocked poll() return soon. Cheap when nobody blocks.
void break_poll() noexcept;
// Milliseconds since the last poll() that returned (for the monitor's 10 ms rule).
std::int64_t ms_since_last_poll() noexcept;
}  // namespace netpoll

}  // namespace gopp::detail
