// The poller's seam to the kernel (Go's netpollinit / netpollopen / netpollclose / netpoll /
// netpollBreak): the four calls an io_uring backend would implement too. netpoll_epoll.cpp is
// the one backend today.
#pragma once

#include <cstdint>

namespace gopp::detail::netpoll::backend {

struct event {
  std::uint64_t tag;  // what add() was given, or break_tag
  bool readable;      // readable, peer closed or hung up, or an error is pending
  bool writable;      // writable, hung up, or an error is pending
};
// The tag of the interrupt's own registration (never a descriptor's: those are pointers).
constexpr std::uint64_t break_tag = 0;

// Creates the poller and its interrupt. Aborts with a message if the kernel refuses: without a
// poller no I/O can wait.
void init();
// Registers fd, edge-triggered, for input, output and peer hang-up. 0, or an errno.
int add(int fd, std::uint64_t tag) noexcept;
// Unregisters fd (before it is closed).
void remove(int fd) noexcept;
// Waits up to delay_ms (0: not at all; < 0: until an event or an interrupt) and fills `out`.
// Returns the count (0 on a time-out or a signal). The interrupt's event is reported with
// break_tag, and consumed.
int wait(event* out, int cap, int delay_ms) noexcept;
// Makes a wait() that blocks now, or the next one, return. Coalesced: many calls, one wake-up.
void interrupt() noexcept;

}  // namespace gopp::detail::netpoll::backend
