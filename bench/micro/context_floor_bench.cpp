// The physical floor under a goroutine switch: Boost.Context (which gopp's fibers are built
// on) switching between two contexts with nothing else around it, on the benchmark's thread.
// One iteration is a switch there and a switch back; the "switches" counter shows time per
// switch, comparable with switch_bench.cpp's (process CPU time in both).
#include <benchmark/benchmark.h>

#include <boost/context/detail/fcontext.hpp>
#include <boost/context/fiber.hpp>
#include <boost/context/fixedsize_stack.hpp>

#include <utility>

namespace {

namespace ctx = boost::context;
const benchmark::Counter::Flags per_switch =
    benchmark::Counter::kIsRate | benchmark::Counter::kInvert;

// The bare assembly switch: jump_fcontext, no exception safety, no allocation.
void BM_boost_jump_fcontext(benchmark::State& state) {
  ctx::fixedsize_stack allocator;
  ctx::stack_context stack = allocator.allocate();
  ctx::detail::fcontext_t other = ctx::detail::make_fcontext(
      stack.sp, stack.size, +[](ctx::detail::transfer_t t) {
        for (;;) t = ctx::detail::jump_fcontext(t.fctx, nullptr);
      });
  ctx::detail::transfer_t back = ctx::detail::jump_fcontext(other, nullptr);  // enter it once
  for (auto _ : state) back = ctx::detail::jump_fcontext(back.fctx, nullptr);
  // The other context is parked inside its loop forever; nothing on its stack needs unwinding.
  allocator.deallocate(stack);
  state.counters["switches"] = benchmark::Counter(2.0 * double(state.iterations()), per_switch);
}
BENCHMARK(BM_boost_jump_fcontext)->MeasureProcessCPUTime();

// The public interface on top of it: boost::context::fiber::resume.
void BM_boost_context_fiber_resume(benchmark::State& state) {
  ctx::fiber other{[](ctx::fiber&& caller) {
    for (;;) caller = std::move(caller).resume();
    return std::move(caller);
  }};
  for (auto _ : state) other = std::move(other).resume();
  state.counters["switches"] = benchmark::Counter(2.0 * double(state.iterations()), per_switch);
}  // destroying `other` unwinds its stack (forced_unwind)
BENCHMARK(BM_boost_context_fiber_resume)->MeasureProcessCPUTime();

}  // namespace
