// bench/peers/asio_echo.cpp: B9's Boost.Asio echo server (bench/README.md), written the way
// Asio's own C++20 coroutine echo example is: one io_context run by one thread, a listener
// coroutine that co_spawns one `echo` coroutine per accepted socket, each awaiting
// async_read_some and async_write with use_awaitable until the peer closes.
//
//   asio-echo 127.0.0.1:0        # prints "listening on 127.0.0.1:PORT", echoes until killed
//
// Two choices differ from the example, so that the three servers of B9 move the same bytes the
// same way: the buffer is 32 KiB (io.Copy's, as in the Go server; the example's is 1 KiB, which
// would split B9's 16 KiB stream writes), and each socket sets TCP_NODELAY, which Go's net and
// gopp::net set by default. A connection that ends in an error (a reset) just ends.
// Asio 1.74's awaitable.hpp uses std::exchange without including <utility>, which libstdc++ 12
// no longer pulls in through the other headers: include it first.
#include <utility>

#include <boost/asio.hpp>

#include <cstdio>
#include <exception>
#include <string>

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

asio::awaitable<void> echo(tcp::socket socket) {
  try {
    socket.set_option(tcp::no_delay(true));
    char data[32 * 1024];
    for (;;) {
      std::size_t n = co_await socket.async_read_some(asio::buffer(data), asio::use_awaitable);
      co_await asio::async_write(socket, asio::buffer(data, n), asio::use_awaitable);
    }
  } catch (const std::exception&) {
    // End of file or a reset: the connection is over.
  }
}

asio::awaitable<void> listener(tcp::acceptor acceptor) {
  auto executor = co_await asio::this_coro::executor;
  for (;;) {
    tcp::socket socket = co_await acceptor.async_accept(asio::use_awaitable);
    asio::co_spawn(executor, echo(std::move(socket)), asio::detached);
  }
}

// "127.0.0.1:7000" or "[::1]:7000" (an empty host listens on every IPv4 address).
tcp::endpoint parse_endpoint(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos) throw std::invalid_argument("address without a port: " + text);
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  auto port = static_cast<unsigned short>(std::stoi(text.substr(colon + 1)));
  if (host.empty()) return {tcp::v4(), port};
  return {asio::ip::make_address(host), port};
}

}  // namespace

int main(int argc, char** argv) {
  try {
    asio::io_context io(1);  // one thread runs it: the concurrency hint says so
    tcp::acceptor acceptor(io, parse_endpoint(argc > 1 ? argv[1] : "127.0.0.1:7000"));
    tcp::endpoint bound = acceptor.local_endpoint();
    std::string host = bound.address().to_string();
    if (bound.address().is_v6()) host = "[" + host + "]";
    std::printf("listening on %s:%u\n", host.c_str(), unsigned(bound.port()));
    std::fflush(stdout);

    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](auto, auto) { io.stop(); });
    asio::co_spawn(io, listener(std::move(acceptor)), asio::detached);
    io.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "asio-echo: %s\n", e.what());
    return 1;
  }
  return 0;
}
