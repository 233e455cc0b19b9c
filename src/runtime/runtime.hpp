// Runtime-wide settings and the goroutine life cycle shared by the scheduler and the public API.
#pragma once

#include <cstddef>

#include "runtime/goroutine.hpp"

namespace gopp::detail {

namespace runtime_config {
// Applies gopp::configure(); throws std::logic_error once the runtime has started.
void set(unsigned threads, std::size_t stack_size);
// Called once when the runtime starts: fixes the options and returns the thread count.
unsigned freeze();
bool started() noexcept;
}  // namespace runtime_config

// Runs a goroutine's closure; an escaping exception is a panic (prints, then std::terminate).
void run_closure(goroutine* g) noexcept;
// After a goroutine's final switch: gives back its stack and record.
void finish_goroutine(goroutine* g) noexcept;
// Goroutines started and not finished (runtime.NumGoroutine).
std::size_t live_goroutines() noexcept;
// Installs the $GOPP_DUMP_SIGNAL handler, if the variable is set (dump.cpp). Once, at start.
void install_dump_signal();

}  // namespace gopp::detail
