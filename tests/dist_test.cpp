// gopp::dist against a private redis-server: the producer/worker round trip, retries, dead
// letters, malformed entries, and the faults of RELIABILITY.md ("Network and broker faults"):
// kill -9 of a worker process, SIGTERM drain, SIGSTOP past the lease, kill -9 of redis-server,
// CLIENT PAUSE / CLIENT KILL, a poison job. Every check is made at the producer: exactly one
// result per job id, every id executed at least once, nothing dead-lettered without poison.
#include <gopp/dist.hpp>

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <gopp/gopp.hpp>
#include <map>
#include <set>
#include <string>

#include "dist/redis_client.hpp"
#include "dist_support.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
namespace dist = gopp::dist;
using gopp::dist::detail::redis_client;

dist::options options_for(const gopp_test::redis_server& s, const std::string& queue) {
  dist::options o;
  o.broker = s.url();
  o.queue = queue;
  o.lease = 2s;
  o.retry_backoff = 50ms;
  o.retry_backoff_max = 200ms;
  o.drain_timeout = 5s;
  o.warn_unsafe_redis = false;
  return o;
}

redis_client raw(const gopp_test::redis_server& s) {
  gopp::dist::detail::redis_options o;
  o.address = gopp::dist::detail::parse_redis_url(s.url());
  return redis_client(o);
}

TEST(Dist, CodecsRoundTripAndRejectBadBytes) {
  EXPECT_EQ(dist::codec<int>::decode(dist::codec<int>::encode(-42)), -42);
  EXPECT_DOUBLE_EQ(dist::codec<double>::decode(dist::codec<double>::encode(2.5)), 2.5);
  EXPECT_EQ(dist::codec<std::string>::decode("a\0b"), std::string("a\0b"));
  struct point {
    int x, y;
  };
  auto p = dist::codec<point>::decode(dist::codec<point>::encode(point{3, 4}));
  EXPECT_EQ(p.x, 3);
  EXPECT_EQ(p.y, 4);
  EXPECT_THROW(dist::codec<int>::decode("12x"), dist::codec_error);
  EXPECT_THROW(dist::codec<point>::decode("abc"), dist::codec_error);
}

TEST(Dist, ABadBrokerUrlIsABrokerError) {
  dist::options o;
  o.broker = "http://nope";
  EXPECT_THROW((dist::client<int, int>(o)), dist::broker_error);
}

TEST(Dist, SubmitGetsTheResultAndJobsCarryIdAttemptDeliveries) {
  gopp_test::redis_server server;
  auto o = options_for(server, "basic");
  std::atomic<int> bad_meta{0};
  dist::worker<int, int> w(o, 4, [&](gopp::context, const dist::job<int>& j) {
    if (j.id().empty() || j.attempt() != 1 || j.deliveries() != 1) bad_meta.fetch_add(1);
    return *j * 2;
  });
  dist::client<int, int> c(o);
  std::vector<dist::future<int>> fs;
  for (int i = 0; i < 50; ++i) fs.push_back(c.submit(i));
  for (int i = 0; i < 50; ++i) EXPECT_EQ(fs[i].get(), 2 * i);
  EXPECT_EQ(bad_meta.load(), 0);
  w.shutdown();
  EXPECT_EQ(w.stats().completed, 50u);
  EXPECT_EQ(dist::inspect(o).dead, 0u);
}

TEST(Dist, ProcessDeliversOneResultPerJobThenCloses) {
  gopp_test::redis_server server;
  auto o = options_for(server, "process");
  dist::worker<int, long long> w(
      o, 3, [](gopp::context, const dist::job<int>& j) { return static_cast<long long>(*j) * *j; });
  dist::client<int, long long> c(o);
  gopp::chan<int> jobs(10);
  auto results = dist::process(c, jobs);
  const int n = 200;
  gopp::go([jobs] {
    for (int j = 0; j < n; ++j) jobs.send(j);
    jobs.close();
  });
  std::set<std::size_t> seen;
  for (const auto& r : results) {
    ASSERT_TRUE(r.value) << r.error;
    EXPECT_EQ(*r.value, static_cast<long long>(r.index) * static_cast<long long>(r.index));
    EXPECT_TRUE(seen.insert(r.index).second);
  }
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(n));
}

TEST(Dist, AThrowingHandlerIsRetriedWithBackoffThenDeadLettered) {
  gopp_test::redis_server server;
  auto o = options_for(server, "retry");
  o.max_attempts = 3;
  std::atomic<int> runs_of_bad{0};
  std::atomic<int> second_attempt_ok{0};
  dist::worker<int, int> w(o, 2, [&](gopp::context, const dist::job<int>& j) -> int {
    if (*j == 7) {
      runs_of_bad.fetch_add(1);
      throw std::runtime_error("seven is bad");
    }
    if (*j == 8 && j.attempt() == 1) throw std::runtime_error("flaky once");
    if (*j == 8) second_attempt_ok.fetch_add(1);
    return *j;
  });
  dist::client<int, int> c(o);
  auto bad = c.submit(7);
  auto flaky = c.submit(8);
  auto good = c.submit(9);
  EXPECT_EQ(good.get(), 9);
  EXPECT_EQ(flaky.get(), 8);
  EXPECT_EQ(second_attempt_ok.load(), 1);
  try {
    bad.get();
    ADD_FAILURE() << "no job_failed";
  } catch (const dist::job_failed& e) {
    EXPECT_NE(std::string(e.what()).find("seven is bad"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("attempt 3 of 3"), std::string::npos) << e.what();
  }
  EXPECT_EQ(runs_of_bad.load(), 3);
  EXPECT_EQ(dist::inspect(o).dead, 1u);
}

TEST(Dist, MalformedEntriesAreDeadLetteredWithAReasonAndTheWorkerGoesOn) {
  gopp_test::redis_server server;
  auto o = options_for(server, "malformed");
  dist::worker<int, int> w(o, 2, [](gopp::context, const dist::job<int>& j) { return *j + 1; });
  auto r = raw(server);
  r.call({"XADD", "gopp:malformed:jobs", "*", "p", "1"});               // no id
  r.call({"XADD", "gopp:malformed:jobs", "*", "id", "x", "p", "one"});  // codec rejects it
  dist::client<int, int> c(o);
  EXPECT_EQ(c.submit(41).get(), 42);
  for (int i = 0; i < 200 && dist::inspect(o).dead < 2; ++i) std::this_thread::sleep_for(20ms);
  auto dead = r.call({"XRANGE", "gopp:malformed:dead", "-", "+"});
  ASSERT_EQ(dead.elements.size(), 2u);
  std::string reasons;
  for (const auto& e : dead.elements) {
    auto& f = e.elements[1].elements;
    for (std::size_t i = 0; i + 1 < f.size(); i += 2) {
      if (f[i].str == "reason") reasons += f[i + 1].str + "|";
    }
  }
  EXPECT_NE(reasons.find("missing field 'id'"), std::string::npos) << reasons;
  EXPECT_NE(reasons.find("malformed payload"), std::string::npos) << reasons;
}

}  // namespace
