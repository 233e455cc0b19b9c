// Goroutine tracebacks: the frame walk and its symbols; see traceback.hpp for the method and why
// it never faults.
#include "runtime/traceback.hpp"

#include <cxxabi.h>
#include <dlfcn.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string_view>
#include <vector>

#ifdef GOPP_HAVE_LIBBACKTRACE
#include <backtrace.h>
#endif

#include "runtime/goroutine.hpp"
#include "runtime/sanitizers.hpp"
#include "runtime/stack.hpp"

namespace gopp::detail {

namespace {

// Boost.Context 1.74, x86-64 SysV (jump_x86_64_sysv_elf_gas.S): where jump_fcontext leaves the
// caller's rbp and its own return address, relative to the saved context (the stack pointer).
constexpr std::uintptr_t fcontext_rbp = 0x30;
constexpr std::uintptr_t fcontext_return = 0x38;
constexpr std::uintptr_t fcontext_size = 0x40;

// Reads a word of a goroutine's stack that another thread may be writing (the goroutine may
// resume meanwhile): a plain load, kept out of the sanitizers' sight, since the value is only a
// hint that the walk checks before it follows it.
GOPP_NO_SANITIZE std::uintptr_t load_word(std::uintptr_t at) noexcept {
  return *reinterpret_cast<const volatile std::uintptr_t*>(at);
}

// Follows the rbp chain from frame pointer fp, recording return addresses, while each frame
// pointer lies in [low, high), rises, and is aligned.
GOPP_NO_SANITIZE std::size_t walk(std::uintptr_t fp, std::uintptr_t low, std::uintptr_t high,
                                  std::uintptr_t* pcs, std::size_t n, std::size_t max) noexcept {
  while (n < max) {
    if (fp < low || fp > high - 16 || (fp & 7) != 0) break;
    const std::uintptr_t next = load_word(fp);
    const std::uintptr_t ret = load_word(fp + 8);
    if (ret == 0) break;
    pcs[n++] = ret;
    if (next <= fp) break;
    low = fp + 16;
    fp = next;
  }
  return n;
}

}  // namespace

GOPP_NO_SANITIZE std::size_t saved_frames(const goroutine* g, std::uintptr_t* pcs,
                                          std::size_t max) noexcept {
#if defined(__x86_64__)
  const stack* stk = *static_cast<stack* const volatile*>(&g->stk);
  if (!stk || max == 0) return 0;
  const auto low = reinterpret_cast<std::uintptr_t>(stk->bottom);
  const auto high = reinterpret_cast<std::uintptr_t>(stk->top());
  const auto fctx =
      reinterpret_cast<std::uintptr_t>(*static_cast<void* const volatile*>(&g->context.fctx));
  if (fctx < low || fctx > high - fcontext_size) return 0;
  std::size_t n = 0;
  if (const std::uintptr_t pc = load_word(fctx + fcontext_return)) pcs[n++] = pc;
  return walk(load_word(fctx + fcontext_rbp), fctx + fcontext_size, high, pcs, n, max);
#else
  (void)g;
  (void)pcs;
  (void)max;
  return 0;
#endif
}

[[gnu::noinline]] GOPP_NO_SANITIZE std::size_t current_frames(const goroutine* self,
                                                              std::uintptr_t* pcs,
                                                              std::size_t max) noexcept {
#if defined(__x86_64__)
  if (!self || !self->stk || max == 0) return 0;
  const auto fp = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  const auto high = reinterpret_cast<std::uintptr_t>(self->stk->top());
  return walk(fp, fp, high, pcs, 0, max);
#else
  (void)self;
  (void)pcs;
  (void)max;
  return 0;
#endif
}

namespace {

std::string demangle(const char* name) {
  if (!name) return "??";
  int status = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  if (status != 0 || !d) return name;
  std::string s(d);
  std::free(d);
  return s;
}

// One line pair of the traceback: a function and where in it.
struct frame_line {
  std::string function;
  std::string where;  // "file:line", or the module's path when there is no line information
};

// The runtime's own frames, which Go's traceback hides too: gopp::detail (parking, the scheduler,
// the goroutine's entry), the standard library's call machinery and Boost.Context. A frame that
// was inlined carries DWARF's short name ("operator()", "__invoke_impl<...>"), so it is judged by
// its file too: the standard library's headers, gopp/detail/, and the trampolines in gopp's
// public headers that run a task (the lambdas of go() and group, named "operator()" and "run").
bool is_runtime_frame(const frame_line& f) {
  const std::string& fn = f.function;
  const std::string_view head(fn.data(), std::min(fn.find_first_of("(<"), fn.size()));
  for (std::string_view p : {"gopp::detail::", "std::_", "std::apply", "std::invoke",
                             "boost::context::", "jump_fcontext", "make_fcontext"}) {
    if (head.find(p) != std::string_view::npos) return true;
  }
  const std::string& w = f.where;
  if (w.find("/include/c++/") != std::string::npos) return true;
  if (w.find("/gopp/detail/") != std::string::npos) return true;
  if (w.find("/gopp/") != std::string::npos && w.find(".hpp:") != std::string::npos &&
      (fn.starts_with("operator()") || head == "run" || head.starts_with("__"))) {
    return true;
  }
  return false;
}

bool show_runtime_frames() {
  static const bool system = [] {
    const char* v = std::getenv("GOPP_TRACEBACK");
    return v && std::strcmp(v, "system") == 0;
  }();
  return system;
}

#ifdef GOPP_HAVE_LIBBACKTRACE
backtrace_state* symbols() {
  static backtrace_state* state = backtrace_create_state(
      nullptr, /*threaded=*/1, [](void*, const char*, int) {}, nullptr);
  return state;
}
#endif

// The function containing pc and pc's offset in it, from the symbol table (dladdr when
// libbacktrace is missing).
struct symbol {
  const char* name = nullptr;
  std::uintptr_t start = 0;
};

symbol symbol_of(std::uintptr_t pc) {
  symbol s;
#ifdef GOPP_HAVE_LIBBACKTRACE
  if (backtrace_state* st = symbols()) {
    backtrace_syminfo(
        st, pc,
        [](void* data, std::uintptr_t, const char* name, std::uintptr_t value, std::uintptr_t) {
          auto* out = static_cast<symbol*>(data);
          out->name = name;
          out->start = value;
        },
        [](void*, const char*, int) {}, &s);
  }
#endif
  if (!s.name) {
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(pc), &info) && info.dli_sname) {
      s.name = info.dli_sname;
      s.start = reinterpret_cast<std::uintptr_t>(info.dli_saddr);
    }
  }
  return s;
}

std::string module_of(std::uintptr_t pc) {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(pc), &info) && info.dli_fname) return info.dli_fname;
  return "?";
}

// The lines of one physical frame (several when calls were inlined into it), innermost first.
std::vector<frame_line> lines_of(std::uintptr_t pc) {
  std::vector<frame_line> lines;
#ifdef GOPP_HAVE_LIBBACKTRACE
  if (backtrace_state* st = symbols()) {
    backtrace_pcinfo(
        st, pc,
        [](void* data, std::uintptr_t, const char* file, int line, const char* function) {
          if (!function && !file) return 0;
          auto* out = static_cast<std::vector<frame_line>*>(data);
          out->push_back({demangle(function), file ? std::string(file) + ":" + std::to_string(line)
                                                   : std::string("?")});
          return 0;
        },
        [](void*, const char*, int) {}, &lines);
  }
#endif
  return lines;
}

}  // namespace

void append_frames(std::string& out, const std::uintptr_t* pcs, std::size_t n) {
  const bool all = show_runtime_frames();
  for (std::size_t i = 0; i < n; ++i) {
    // A return address points after the call: look up the call itself.
    const std::uintptr_t pc = pcs[i] - 1;
    std::vector<frame_line> lines = lines_of(pc);
    const symbol sym = symbol_of(pc);
    if (lines.empty()) {
      lines.push_back({demangle(sym.name), module_of(pc)});
    } else if (sym.name) {
      // The physical frame (the last line) by its symbol's full name: DWARF may give only the
      // short one ("run" for gopp::detail::closure_ops_for<...>::run).
      lines.back().function = demangle(sym.name);
    }
    char offset[32] = "";
    if (sym.start != 0 && pcs[i] >= sym.start) {
      std::snprintf(offset, sizeof offset, " +0x%" PRIxPTR, pcs[i] - sym.start);
    }
    for (std::size_t k = 0; k < lines.size(); ++k) {
      if (!all && is_runtime_frame(lines[k])) continue;
      out += lines[k].function;
      out += "\n\t";
      out += lines[k].where;
      if (k + 1 == lines.size()) out += offset;  // the offset belongs to the physical frame
      out += '\n';
    }
  }
}

}  // namespace gopp::detail
