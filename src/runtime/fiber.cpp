// The context switch; see fiber.hpp for what a switch carries and why.
#include "runtime/fiber.hpp"

#include <cstring>

// __cxa_get_globals() is declared __attribute__((const)) in <cxxabi.h>, which lets a compiler
// reuse its result across a switch, on the wrong thread. Bind our own name to the same symbol,
// without that attribute, and reach it through a non-inlined function.
extern "C" void* gopp_cxa_get_globals() noexcept __asm__("__cxa_get_globals");

namespace gopp::detail {

[[gnu::noinline]] eh_state* thread_eh_state() noexcept {
  asm volatile("" ::: "memory");
  return static_cast<eh_state*>(gopp_cxa_get_globals());
}

ctx::transfer_t switch_to(fiber_context& from, fiber_context& to, eh_state* eh, void* data,
                          bool from_exits) {
  from.eh = *eh;
  *eh = to.eh;
  sanitizer::before_switch(from.san, to.san, from_exits);
  ctx::transfer_t t = ctx::jump_fcontext(to.fctx, data);
  sanitizer::after_switch(from.san);
  return t;
}

void make_context(fiber_context& to, char* stack_top, std::size_t size,
                  void (*entry)(ctx::transfer_t)) {
  to.fctx = ctx::make_fcontext(stack_top, size, entry);
  to.eh = {};
  to.san.stack_bottom = stack_top - size;
  to.san.stack_size = size;
  to.san.asan_fake_stack = nullptr;
}

void entered(fiber_context& self, fiber_context* came_from) {
  sanitizer::after_switch(self.san, came_from ? &came_from->san : nullptr);
}

}  // namespace gopp::detail
