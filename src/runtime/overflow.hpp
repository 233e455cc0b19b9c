// Stack-overflow detection: a SIGSEGV/SIGBUS handler, on an alternate signal stack per worker
// thread, that tells a goroutine's stack overflow (a fault in a stack's guard) from any other
// fault, which it hands back to the previous handler untouched.
#pragma once

namespace gopp::detail {

struct goroutine;

// Installs the process-wide handler once (chaining to whatever was installed before).
void install_overflow_handler();
// Gives the calling worker thread an alternate signal stack (the overflowed stack is unusable).
void install_signal_stack();
// An unguarded stack's canary was found overwritten after `g` switched out: report and abort.
[[noreturn]] void report_canary_overflow(const goroutine* g) noexcept;
// A reserved stack could not be had when `g` first ran (the address space vanished between
// go() and now): report and abort. go() reserves stacks, so this does not happen in practice.
[[noreturn]] void report_no_stack(const goroutine* g) noexcept;

}  // namespace gopp::detail
