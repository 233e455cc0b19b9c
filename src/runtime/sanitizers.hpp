// Everything gopp knows about sanitizers, in one place (as marl's sanitizers.h).
//
// AddressSanitizer must be told when the stack changes under it (start/finish_switch_fiber),
// or it reports false stack-buffer overflows and loses fake frames. ThreadSanitizer must be
// given one "fiber" per goroutine and told about every switch (create/switch/destroy_fiber), or
// it sees one thread's accesses jump between unrelated stacks. No other file names a sanitizer:
// they call the hooks below, which compile to nothing in ordinary builds.
#pragma once

#include <cstddef>

#if defined(GOPP_SANITIZER_ADDRESS) || defined(__SANITIZE_ADDRESS__)
#define GOPP_ASAN 1
#endif
#if defined(GOPP_SANITIZER_THREAD) || defined(__SANITIZE_THREAD__)
#define GOPP_TSAN 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(GOPP_ASAN)
#define GOPP_ASAN 1
#endif
#if __has_feature(thread_sanitizer) && !defined(GOPP_TSAN)
#define GOPP_TSAN 1
#endif
#endif

#ifdef GOPP_ASAN
extern "C" {
void __sanitizer_start_switch_fiber(void** fake_stack_save, const void* bottom, std::size_t size);
void __sanitizer_finish_switch_fiber(void* fake_stack_save, const void** bottom_old,
                                     std::size_t* size_old);
void __asan_unpoison_memory_region(void const volatile* addr, std::size_t size);
}
#endif
#ifdef GOPP_TSAN
extern "C" {
void* __tsan_get_current_fiber(void);
void* __tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void* fiber);
void __tsan_switch_to_fiber(void* fiber, unsigned flags);
}
#endif

// For the few functions that read another goroutine's stack without synchronisation (the
// traceback walk, runtime/traceback.cpp): what they read is a hint they check, never trusted, so
// neither ASan's redzones nor TSan's race detection apply to it.
#define GOPP_NO_SANITIZE __attribute__((no_sanitize("address", "thread", "undefined")))

namespace gopp::detail::sanitizer {

// Per-context state the sanitizers need: the stack it runs on and its sanitizer handles.
struct fiber_state {
  const void* stack_bottom = nullptr;  // lowest address of the usable stack
  std::size_t stack_size = 0;
  void* asan_fake_stack = nullptr;  // ASan's fake-stack handle, saved while switched out
  void* tsan_fiber = nullptr;       // TSan's fiber handle
};

constexpr bool address = []() {
#ifdef GOPP_ASAN
  return true;
#else
  return false;
#endif
}();
constexpr bool thread = []() {
#ifdef GOPP_TSAN
  return true;
#else
  return false;
#endif
}();

// A new goroutine's context is about to be created.
inline void on_fiber_create(fiber_state& s) {
#ifdef GOPP_TSAN
  s.tsan_fiber = __tsan_create_fiber(0);
#else
  (void)s;
#endif
}
// A finished goroutine's context is gone (called from another context).
inline void on_fiber_destroy(fiber_state& s) {
#ifdef GOPP_TSAN
  if (s.tsan_fiber) __tsan_destroy_fiber(s.tsan_fiber);
  s.tsan_fiber = nullptr;
#else
  (void)s;
#endif
}
// A pooled stack is handed to a new goroutine. The previous goroutine's last frames never
// returned (a goroutine ends by switching away), so their redzones are still poisoned; code
// that ASan does not instrument (the unwinder, the context switch) may reuse those bytes.
inline void on_stack_reuse(const void* bottom, std::size_t size) {
#ifdef GOPP_ASAN
  __asan_unpoison_memory_region(bottom, size);
#else
  (void)bottom;
  (void)size;
#endif
}
// A scheduler (a thread's native stack) adopts its own context.
inline void on_thread_context(fiber_state& s) {
#ifdef GOPP_TSAN
  s.tsan_fiber = __tsan_get_current_fiber();
#else
  (void)s;
#endif
}
// Right before jumping from `from` to `to`; `from_exits` when `from` will never run again.
inline void before_switch(fiber_state& from, const fiber_state& to, bool from_exits) {
#ifdef GOPP_ASAN
  __sanitizer_start_switch_fiber(from_exits ? nullptr : &from.asan_fake_stack, to.stack_bottom,
                                 to.stack_size);
#endif
#ifdef GOPP_TSAN
  __tsan_switch_to_fiber(to.tsan_fiber, 0);
#endif
  (void)from;
  (void)to;
  (void)from_exits;
}
// Right after `self` was resumed. Records the bounds of the stack we came from into `came_from`
// when given (a scheduler learns its own thread stack's bounds this way).
inline void after_switch(fiber_state& self, fiber_state* came_from = nullptr) {
#ifdef GOPP_ASAN
  const void* bottom = nullptr;
  std::size_t size = 0;
  __sanitizer_finish_switch_fiber(self.asan_fake_stack, &bottom, &size);
  if (came_from && bottom) {
    came_from->stack_bottom = bottom;
    came_from->stack_size = size;
  }
#endif
  (void)self;
  (void)came_from;
}

}  // namespace gopp::detail::sanitizer
