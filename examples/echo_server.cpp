// An echo server in Go's shape: the main thread accepts, and each connection gets a goroutine
// that writes back every byte it reads until the client closes. Go's original:
//
//   ln, err := net.Listen("tcp", addr)
//   fmt.Println("listening on", ln.Addr())
//   for {
//       c, err := ln.Accept()
//       if err != nil { log.Print(err); continue }
//       go func(c net.Conn) {
//           defer c.Close()
//           io.Copy(c, c)
//       }(c)
//   }
//
// Usage: echo_server [ADDR]   ADDR is host:port (default 127.0.0.1:7000; port 0 picks a free
// one), or a unix socket path starting with '/' or '@'. Prints `listening on ADDR` once it
// accepts, then runs until it is killed. Try it with `nc 127.0.0.1 7000`.
#include <gopp/go.hpp>
#include <gopp/log.hpp>
#include <gopp/net.hpp>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <memory>
#include <span>
#include <string_view>

namespace {

void echo(gopp::net::conn c) {
  // On the heap, not the goroutine's stack: a 32 KiB frame would be committed page by page when
  // entered (stack-clash probes), costing every idle connection 32 KiB; untouched heap pages
  // cost nothing until data arrives (Go's and Asio's servers hold the same 32 KiB buffer).
  constexpr std::size_t size = 32 * 1024;
  const auto storage = std::make_unique_for_overwrite<std::byte[]>(size);
  const std::span<std::byte> buf(storage.get(), size);
  try {
    while (std::size_t n = c.read(buf)) c.write(buf.first(n));
  } catch (const gopp::net::op_error& e) {
    gopp::log_printf("%s", e.what());  // a reset or a broken pipe: the client went away
  }
  c.close();
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const std::string_view address = argc > 1 ? argv[1] : "127.0.0.1:7000";
  const bool unix_path = !address.empty() && (address[0] == '/' || address[0] == '@');
  gopp::net::listener ln;
  try {
    ln = gopp::net::listen(unix_path ? "unix" : "tcp", address);
  } catch (const gopp::net::op_error& e) {
    std::fprintf(stderr, "echo_server: %s\nusage: echo_server [ADDR]\n", e.what());
    return 1;
  }
  std::printf("listening on %s\n", ln.addr().to_string().c_str());
  for (;;) {
    try {
      gopp::go(echo, ln.accept());
    } catch (const gopp::net::op_error& e) {
      // Out of fds, for example: say so, wait a little (Go's http.Server does the same), and
      // go on; the listener serves again once connections close.
      gopp::log_printf("%s", e.what());
      gopp::sleep_for(std::chrono::milliseconds(10));
    }
  }
}
