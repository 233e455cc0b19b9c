// gopp/defer.hpp: Go's `defer` as a scope guard. Go: defer f().
//
//   void copy_file(const char* from, const char* to) {
//     std::FILE* in = std::fopen(from, "rb");
//     if (!in) return;
//     gopp::defer close_in{[&] { std::fclose(in); }};   // runs however copy_file is left
//     ...
//   }
//
// The callable runs when the guard goes out of scope: on return, at the end of the block, and
// during stack unwinding by an exception (as a Go defer runs during a panic). Guards in one scope
// run in reverse order of declaration, as Go's deferred calls do (C++ destroys locals in reverse).
//
// Differences from Go, on purpose:
//   - The guard runs at the end of its C++ scope, not of the enclosing function: inside a loop
//     body it runs once per iteration, which is what a Go programmer usually wanted there anyway.
//   - Go evaluates a deferred call's arguments at the `defer` statement. Here the lambda's
//     captures play that role: capture by value what must be fixed now, by reference what is read
//     at exit.
//   - There is no way to cancel a guard (Go has none either; if a clean-up is conditional, put
//     the condition inside the callable).
//   - The destructor is noexcept: a callable that throws calls std::terminate, since an exception
//     escaping during unwinding would terminate anyway and a clean-up that may fail silently half
//     the time is worse than one that fails loudly. Go's `recover` has no counterpart here; catch
//     inside the callable if it can fail.
//
// The guard cannot be copied or moved, so it always runs exactly once, where it was declared.
// Class template argument deduction picks the callable's type: `gopp::defer d{lambda};`.
#pragma once

#include <concepts>
#include <functional>
#include <type_traits>
#include <utility>

namespace gopp {

template <class F>
requires std::invocable<F&> && std::is_nothrow_destructible_v<F>
class [[nodiscard("an unnamed gopp::defer runs at once: name it")]] defer {
 public:
  // Takes the callable by value, so a temporary lambda is moved in, a named one copied.
  explicit defer(F f) noexcept(std::is_nothrow_move_constructible_v<F>) : f_(std::move(f)) {}

  defer(const defer&) = delete;
  defer& operator=(const defer&) = delete;
  // Copy deleted: no move constructor or move assignment is declared, so neither exists.

  ~defer() noexcept {
    std::invoke(f_);
  }

 private:
  F f_;
};

template <class F>
defer(F) -> defer<F>;

}  // namespace gopp
