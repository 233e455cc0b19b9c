// gopp/detail/link_check.hpp: a sanitizer mismatch between a program and libgopp fails at link
// time, with a symbol name that says what to link instead.
//
// A program built with -fsanitize=thread (or address) must link the library built the same way:
// the plain libgopp switches goroutine stacks without telling the sanitizer, which then reports
// false races, hangs or crashes. So every translation unit that includes gopp's headers refers to
// one symbol chosen by how *it* is compiled, and each variant of the library defines only its own
// (src/link_check.cpp, compiled with the library's flags):
//   compiled with -fsanitize=thread   gopp_compiled_with_fsanitize_thread__link_gopp_tsan
//   compiled with -fsanitize=address  gopp_compiled_with_fsanitize_address__link_gopp_asan
//   neither                           gopp_compiled_without_sanitizer__link_plain_gopp
// A mismatch reads, for instance:
//   undefined reference to `gopp_compiled_with_fsanitize_thread__link_gopp_tsan'
// Fix: link gopp::gopp_tsan (CMake) or `pkg-config gopp-tsan` (README, "Using gopp from your
// project"). Cost: one 8-byte pointer per translation unit, nothing at run time.
#pragma once

#if defined(__SANITIZE_THREAD__)
#define GOPP_DETAIL_LINK_CHECK gopp_compiled_with_fsanitize_thread__link_gopp_tsan
#elif defined(__SANITIZE_ADDRESS__)
#define GOPP_DETAIL_LINK_CHECK gopp_compiled_with_fsanitize_address__link_gopp_asan
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GOPP_DETAIL_LINK_CHECK gopp_compiled_with_fsanitize_thread__link_gopp_tsan
#elif __has_feature(address_sanitizer)
#define GOPP_DETAIL_LINK_CHECK gopp_compiled_with_fsanitize_address__link_gopp_asan
#endif
#endif
#ifndef GOPP_DETAIL_LINK_CHECK
#define GOPP_DETAIL_LINK_CHECK gopp_compiled_without_sanitizer__link_plain_gopp
#endif

extern "C" const char GOPP_DETAIL_LINK_CHECK;

namespace gopp::detail::link_check {
// Internal linkage, kept by [[gnu::used]] although nothing reads it: its initializer is the
// reference the linker must resolve.
[[gnu::used]] static const char* const required_library_variant = &GOPP_DETAIL_LINK_CHECK;
}  // namespace gopp::detail::link_check
