// Goroutine tracebacks for gopp::goroutine_dump(): the frames of a parked goroutine, read from
// its saved context, and of the calling one, with symbols, in Go's layout.
//
// Walking. gopp is built with frame pointers (-fno-omit-frame-pointer), so every frame of the
// runtime starts with the caller's rbp saved at [rbp] and the return address at [rbp + 8]. A
// parked goroutine's stack pointer is its saved fcontext: Boost.Context's x86-64 SysV
// jump_fcontext pushed the return address into switch_to() at fctx + 0x38 and saved rbp at
// fctx + 0x30 (after mxcsr/x87 words at 0x0, r12..r15 at 0x8..0x20, rbx at 0x28). From there the
// rbp chain leads through park(), the blocking call and the user's functions to the goroutine's
// entry. The walk never trusts what it reads: each frame pointer must lie inside the goroutine's
// stack, above the previous one and 8-aligned, and the walk stops at the first that is not (a
// frame compiled without frame pointers ends the traceback early, it never faults). A goroutine
// that resumes while it is walked shows the frames of whatever its stack then holds (the dump is
// a snapshot); the stack stays mapped, since stacks are pooled and never unmapped.
//
// Symbols. With GCC's libbacktrace (libgcc's libbacktrace.a and <backtrace.h>, found at
// configure time: GOPP_HAVE_LIBBACKTRACE) each return address gives its function, file and line
// from the DWARF of the executable and its shared libraries, inlined calls included; without
// debug information, the symbol table's name. Without libbacktrace, dladdr() names what the
// dynamic symbol table knows. Names are demangled.
//
// Layout, as Go's traceback: one "function\n\tfile:line +0xoffset\n" pair per frame, innermost
// first. As Go hides runtime.* frames, the runtime's own (gopp::detail::, std:: call machinery,
// Boost.Context) are left out unless $GOPP_TRACEBACK=system.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace gopp::detail {

struct goroutine;

constexpr std::size_t max_traceback_frames = 64;

// The return addresses of parked goroutine g, innermost first; returns how many (0 if g has no
// stack or no saved context). g must not be the calling goroutine.
std::size_t saved_frames(const goroutine* g, std::uintptr_t* pcs, std::size_t max) noexcept;
// The return addresses of the calling goroutine (its own frames above this call).
std::size_t current_frames(const goroutine* self, std::uintptr_t* pcs, std::size_t max) noexcept;
// Appends the frames in Go's layout.
void append_frames(std::string& out, const std::uintptr_t* pcs, std::size_t n);

}  // namespace gopp::detail
