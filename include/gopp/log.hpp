// gopp/log.hpp: Go's standard logger (package log with its default flags). Go: log.Printf,
// log.Print, log.Println, log.SetOutput.
//
//   auto start = std::chrono::steady_clock::now();
//   ...
//   gopp::log_printf("%s: %s", "time using worker pool",
//                    gopp::format_duration(std::chrono::steady_clock::now() - start).c_str());
//   // stderr: 2021/03/18 09:25:25 time using worker pool: 2.000943787s
//
// Every line is `YYYY/MM/DD HH:MM:SS <message>\n`, the date and time in the local time zone
// (as Go's log.LstdFlags: Ldate | Ltime), written to standard error unless set_log_output says
// otherwise. Each line goes out in a single write(2), so lines logged at once from several
// goroutines or threads never interleave (for a pipe, up to PIPE_BUF = 4096 bytes a line; a
// regular file or a terminal takes any length). Safe to call from goroutines and plain threads;
// a write that fails is ignored, as Go's log.Printf ignores it.
#pragma once

#include <chrono>
#include <cstdarg>
#include <string>
#include <string_view>

namespace gopp {

// Go: log.Printf(format, ...). printf formatting (checked by the compiler); a newline is
// appended only if the message does not already end with one.
[[gnu::format(printf, 1, 2)]] void log_printf(const char* format, ...);
// As log_printf, with a va_list (for wrappers that are themselves printf-like).
[[gnu::format(printf, 1, 0)]] void log_vprintf(const char* format, std::va_list args);

// Go: log.Print(message): a newline is appended only if missing.
void log_print(std::string_view message);

// Go: log.Println(message): Println always ends the message with a newline (Go's fmt.Sprintln),
// so "done\n" is logged followed by an empty line, exactly as in Go.
void log_println(std::string_view message);

// Go: log.SetOutput. Sends later lines to the file descriptor `fd` (default: 2, standard error)
// and returns the previous one. gopp never closes it; the caller keeps it open while it is set.
int set_log_output(int fd) noexcept;

// The line prefix for time `t`, e.g. "2021/03/18 09:25:25 " (local time, with the trailing
// space). Exposed so that tools and tests can produce or check the exact format.
std::string log_prefix(std::chrono::system_clock::time_point t);

}  // namespace gopp
