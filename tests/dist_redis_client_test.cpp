// The internal Redis client of gopp::dist (src/dist/redis_client.hpp) against a private
// redis-server: calls park goroutines, pipelining, error replies, deadlines, EVALSHA after a
// SCRIPT FLUSH, reconnect after the server is killed and restarted.
#include "dist/redis_client.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <exception>
#include <gopp/gopp.hpp>
#include <string>

#include "dist_support.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using gopp::dist::detail::command;
using gopp::dist::detail::redis_client;
using gopp::dist::detail::redis_error;
using gopp::dist::detail::redis_io_error;
using gopp::dist::detail::redis_options;

redis_options options_for(const gopp_test::redis_server& s) {
  redis_options o;
  o.address = gopp::dist::detail::parse_redis_url(s.url());
  o.call_timeout = 5s;
  return o;
}

// Runs f on a goroutine, waits, and rethrows what it threw.
template <class F>
void on_goroutine(F f) {
  gopp::chan<std::exception_ptr> done(1);
  gopp::go([&] {
    std::exception_ptr e;
    try {
      f();
    } catch (...) {
      e = std::current_exception();
    }
    done.send(e);
  });
  if (auto e = *done.recv()) std::rethrow_exception(e);
}

TEST(RedisUrl, ParsesHostPortDatabaseAndPassword) {
  auto a = gopp::dist::detail::parse_redis_url("redis://:secret@example.org:7000/3");
  EXPECT_EQ(a.host, "example.org");
  EXPECT_EQ(a.port, 7000);
  EXPECT_EQ(a.db, 3);
  EXPECT_EQ(a.password, "secret");
  auto b = gopp::dist::detail::parse_redis_url("redis://10.0.0.1");
  EXPECT_EQ(b.host, "10.0.0.1");
  EXPECT_EQ(b.port, 6379);
  EXPECT_THROW(gopp::dist::detail::parse_redis_url("http://x"), std::invalid_argument);
  EXPECT_THROW(gopp::dist::detail::parse_redis_url("redis://x:99999"), std::invalid_argument);
  EXPECT_THROW(gopp::dist::detail::parse_redis_url("redis://x:12/abc"), std::invalid_argument);
}

TEST(RedisClient, BinarySafeSetAndGetFromAGoroutineAndAThread) {
  gopp_test::redis_server server;
  redis_client c(options_for(server));
  const std::string v("a\0b\r\nc", 6);
  on_goroutine([&] {
    EXPECT_EQ(c.call({"SET", "k", v}).as_string(), "OK");
    EXPECT_EQ(c.call({"GET", "k"}).as_string(), v);
  });
  EXPECT_TRUE(c.call({"GET", "missing"}).is_nil());  // a plain thread blocks instead
}

TEST(RedisClient, PipelineReturnsOneReplyPerCommandInOrderErrorsIncluded) {
  gopp_test::redis_server server;
  redis_client c(options_for(server));
  on_goroutine([&] {
    std::vector<command> cmds;
    const int n = 2000;
    for (int i = 0; i < n; ++i) cmds.push_back({"INCR", "counter"});
    cmds.push_back({"LPUSH", "counter", "x"});  // WRONGTYPE
    auto r = c.pipeline(cmds);
    ASSERT_EQ(r.size(), static_cast<std::size_t>(n + 1));
    for (int i = 0; i < n; ++i) ASSERT_EQ(r[i].as_integer(), i + 1);
    EXPECT_TRUE(r[n].is_error());
    EXPECT_NE(r[n].str.find("WRONGTYPE"), std::string::npos);
    EXPECT_THROW(c.call({"LPUSH", "counter", "x"}), redis_error);
    EXPECT_EQ(c.call({"GET", "counter"}).as_integer(), n);  // the connection is still good
  });
}

TEST(RedisClient, ADeadlineEndsACallAndTheNextCallDialsAgain) {
  gopp_test::redis_server server;
  redis_client c(options_for(server));
  on_goroutine([&] {
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_THROW(c.call({"BLPOP", "nothing", "10"}, 200ms), redis_io_error);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
    EXPECT_FALSE(c.connected());
    EXPECT_EQ(c.call({"PING"}).as_string(), "PONG");
  });
}

TEST(RedisClient, EvalLoadsTheScriptAgainAfterScriptFlush) {
  gopp_test::redis_server server;
  redis_client c(options_for(server));
  const std::string script = "return redis.call('INCRBY', KEYS[1], ARGV[1])";
  on_goroutine([&] {
    EXPECT_EQ(c.eval(script, {"n"}, {"5"}).as_integer(), 5);
    EXPECT_EQ(c.eval(script, {"n"}, {"5"}).as_integer(), 10);
    c.call({"SCRIPT", "FLUSH"});
    EXPECT_EQ(c.eval(script, {"n"}, {"1"}).as_integer(), 11);  // NOSCRIPT, then SCRIPT LOAD
    EXPECT_THROW(c.eval("return redis.error_reply('boom')", {}, {}), redis_error);
  });
}

TEST(RedisClient, ReconnectsWithBackoffAfterTheServerIsKilledAndRestarted) {
  gopp_test::redis_server server({.appendfsync = "always"});
  redis_client c(options_for(server));
  on_goroutine([&] {
    c.call({"SET", "k", "1"});
    server.kill9();
    int failures = 0;
    for (int i = 0; i < 3; ++i) {
      try {
        c.call({"GET", "k"}, 300ms);
      } catch (const redis_io_error& e) {
        ++failures;
        EXPECT_NE(std::string(e.what()).find("127.0.0.1"), std::string::npos) << e.what();
      }
    }
    EXPECT_EQ(failures, 3);
    server.start();
    std::string got;
    for (int i = 0; i < 100 && got.empty(); ++i) {
      try {
        got = c.call({"GET", "k"}, 1s).as_string();
      } catch (const redis_io_error&) {
      }
    }
    EXPECT_EQ(got, "1");  // AOF always: the write survived the crash
  });
}

TEST(RedisClient, ManyGoroutinesShareOneClient) {
  gopp_test::redis_server server;
  redis_client c(options_for(server));
  const int goroutines = 16, each = gopp_test::under_sanitizer ? 50 : 200;
  gopp::wait_group wg;
  std::atomic<int> bad{0};
  for (int g = 0; g < goroutines; ++g) {
    wg.add(1);
    gopp::go([&, g] {
      for (int i = 0; i < each; ++i) {
        std::string k = "k";
        k += std::to_string(g);
        if (c.call({"INCR", k}).as_integer() != i + 1) bad.fetch_add(1);
      }
      wg.done();
    });
  }
  wg.wait();
  EXPECT_EQ(bad.load(), 0);
}

TEST(RedisClient, ARefusedDialIsAClearErrorNotAHang) {
  redis_options o;
  o.address.port = gopp_test::free_loopback_port();
  redis_client c(o);
  on_goroutine([&] {
    try {
      c.call({"PING"}, 2s);
      ADD_FAILURE() << "no error";
    } catch (const redis_io_error& e) {
      EXPECT_NE(std::string(e.what()).find("refused"), std::string::npos) << e.what();
    }
  });
}

}  // namespace
